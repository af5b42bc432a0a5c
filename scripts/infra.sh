#!/usr/bin/env bash
# Local test infrastructure for Schild: a single-node Apache Kafka (KRaft,
# combined broker+controller) and a PostgreSQL cluster, both on 127.0.0.1.
#
#   scripts/infra.sh up       start both (idempotent), wait until ready
#   scripts/infra.sh down     stop both (idempotent)
#   scripts/infra.sh status   exit 0 only if both are up
#   scripts/infra.sh env      print the export lines only
#   scripts/infra.sh kafka-up / kafka-down   the broker alone (e.g. a throwaway one on other
#                             ports and SCHILD_INFRA_DIR, which a test may stop and restart)
#   scripts/infra.sh kafka-acls ARGS... / kafka-configs ARGS...   Kafka's kafka-acls.sh and
#                             kafka-configs.sh against this broker (--bootstrap-server is added)
#
# `up` and `env` print only `export ...` lines on stdout (progress goes to
# stderr), so this works:   eval "$(scripts/infra.sh up)"
#
# Knobs (environment):
#   SCHILD_INFRA_DIR             state dir (default <repo>/var/infra)
#   SCHILD_CACHE                 download cache (default ~/.cache/schild)
#   SCHILD_KAFKA_VERSION         Kafka version from Maven Central (default below)
#   SCHILD_KAFKA_PORT            broker port (default 19092)
#   SCHILD_KAFKA_CONTROLLER_PORT KRaft controller port (default 19093)
#   SCHILD_KAFKA_HEAP            JVM heap flags (default "-Xms256m -Xmx512m")
#   SCHILD_KAFKA_SASL_PORT       adds a SASL_PLAINTEXT (SCRAM-SHA-512) listener on this port, with
#                                ACLs enforced there (the zone exchange); unset: none. The PLAINTEXT
#                                listener stays as it is, its clients super users. Only a broker
#                                started with it has it: never set it for a running shared broker.
#   SCHILD_KAFKA_SCRAM_USERS     "name:password ..." SCRAM users made when the storage is formatted
#   SCHILD_PG_PORT               PostgreSQL port (default 15432)
#   SCHILD_INFRA_TIMEOUT         seconds to wait for readiness (default 120)
set -euo pipefail

# ---------------------------------------------------------------- settings --
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_DIR=$(cd "${SCRIPT_DIR}/.." && pwd -P)

KAFKA_VERSION=${SCHILD_KAFKA_VERSION:-4.4.0}
KAFKA_PORT=${SCHILD_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${SCHILD_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_HEAP=${SCHILD_KAFKA_HEAP:--Xms256m -Xmx512m}
KAFKA_SASL_PORT=${SCHILD_KAFKA_SASL_PORT:-}
KAFKA_SCRAM_USERS=${SCHILD_KAFKA_SCRAM_USERS:-}
PG_PORT=${SCHILD_PG_PORT:-15432}
PG_CLUSTER=schild
PG_USER=schild
PG_PASSWORD=schild
PG_DB=schild
# The two roles a service runs with (ANPR_DATABASE_OWNER_URL migrates, ANPR_DATABASE_URL serves);
# PG_USER above stays the tests' administrator, which creates a fresh database per test.
PG_OWNER=schild_owner
PG_APP=schild_app
TIMEOUT=${SCHILD_INFRA_TIMEOUT:-120}
HOST=127.0.0.1

STATE_DIR=${SCHILD_INFRA_DIR:-${REPO_DIR}/var/infra}
CACHE_DIR=${SCHILD_CACHE:-${HOME}/.cache/schild}
KAFKA_HOME=${CACHE_DIR}/kafka/${KAFKA_VERSION}
KAFKA_LIBS=${KAFKA_HOME}/libs
KAFKA_POM=${SCRIPT_DIR}/kafka/pom.xml

KAFKA_STATE=${STATE_DIR}/kafka
KAFKA_DATA=${KAFKA_STATE}/data
KAFKA_LOG_DIR=${KAFKA_STATE}/logs
KAFKA_LOG=${KAFKA_LOG_DIR}/server.log
KAFKA_OUT=${KAFKA_LOG_DIR}/kafka.out
KAFKA_PID=${KAFKA_STATE}/kafka.pid
KAFKA_PROPS=${KAFKA_STATE}/server.properties
KAFKA_LOG4J=${KAFKA_STATE}/log4j2.properties
KAFKA_TOOLS_LOG4J=${KAFKA_STATE}/tools-log4j2.properties
# Records which Kafka version/controller endpoint formatted the data dir.
KAFKA_STAMP=${KAFKA_DATA}/.schild-format

# ----------------------------------------------------------------- helpers --
log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# Everything below that needs root (apt, pg_createcluster, writing /etc) goes
# through this, so the script also works for a non-root user with sudo.
as_root() {
  if [[ ${EUID} -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
  if [[ ${EUID} -eq 0 ]]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# Prints the last lines of each given log file, to explain a failure.
show_tail() {
  local f
  for f in "$@"; do
    [[ -r ${f} ]] || continue
    printf '[infra] ---- last 40 lines of %s ----\n' "${f}" >&2
    tail -n 40 "${f}" >&2 || true
  done
}

# True if something accepts TCP connections on HOST:$1 (bash's /dev/tcp, so
# no dependency on nc).
port_open() {
  (exec 3<>"/dev/tcp/${HOST}/$1") 2>/dev/null
}

print_env() {
  printf 'export ANPR_KAFKA_BOOTSTRAP=%s:%s\n' "${HOST}" "${KAFKA_PORT}"
  printf 'export ANPR_DATABASE_URL=postgresql+asyncpg://%s:%s@%s:%s/%s\n' \
    "${PG_USER}" "${PG_PASSWORD}" "${HOST}" "${PG_PORT}" "${PG_DB}"
  # Not ANPR_ names, so the tests' fresh databases are not mixed up with this one: a service run
  # by hand takes them as ANPR_DATABASE_OWNER_URL and ANPR_DATABASE_URL.
  printf 'export SCHILD_DATABASE_OWNER_URL=postgresql+asyncpg://%s:%s@%s:%s/%s\n' \
    "${PG_OWNER}" "${PG_OWNER}" "${HOST}" "${PG_PORT}" "${PG_DB}"
  printf 'export SCHILD_DATABASE_APP_URL=postgresql+asyncpg://%s:%s@%s:%s/%s\n' \
    "${PG_APP}" "${PG_APP}" "${HOST}" "${PG_PORT}" "${PG_DB}"
}

# ------------------------------------------------------------------- kafka --
# PID of our broker if it is alive. Checks the command line so a stale PID
# file whose number got reused by another process is not mistaken for Kafka.
kafka_pid() {
  local pid
  [[ -s ${KAFKA_PID} ]] || return 1
  pid=$(<"${KAFKA_PID}")
  [[ ${pid} =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/${pid}/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -q 'kafka\.Kafka' || return 1
  printf '%s\n' "${pid}"
}

# Downloads the broker jars once per version (and per pom content) into the
# shared cache; later runs, and other clones, reuse them without Maven.
kafka_fetch() {
  local want have="" tmp
  want=$(sha256sum "${KAFKA_POM}" | cut -d' ' -f1)
  [[ -r ${KAFKA_HOME}/.complete ]] && have=$(<"${KAFKA_HOME}/.complete")
  if [[ -d ${KAFKA_LIBS} && ${have} == "${want}" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (needed once to download Kafka ${KAFKA_VERSION})"
  log "downloading Apache Kafka ${KAFKA_VERSION} jars from Maven Central into ${KAFKA_LIBS}"
  mkdir -p "${KAFKA_HOME}"
  # Download into a private temp dir and swap it in, so an interrupted or
  # concurrent run never leaves a half-filled libs/ behind.
  tmp=$(mktemp -d "${KAFKA_HOME}/libs.tmp.XXXXXX")
  if ! mvn -B -q -Dstyle.color=never -f "${KAFKA_POM}" \
      -Dkafka.version="${KAFKA_VERSION}" \
      -DincludeScope=runtime \
      -DoutputDirectory="${tmp}" \
      dependency:copy-dependencies >&2; then
    rm -rf "${tmp}"
    die "mvn could not fetch org.apache.kafka:kafka_2.13:${KAFKA_VERSION}"
  fi
  compgen -G "${tmp}/kafka_2.13-*.jar" >/dev/null || { rm -rf "${tmp}"; die "no kafka_2.13 jar in ${tmp}"; }
  rm -rf "${KAFKA_LIBS}"
  mv "${tmp}" "${KAFKA_LIBS}"
  printf '%s\n' "${want}" >"${KAFKA_HOME}/.complete"
}

kafka_write_config() {
  local listeners="PLAINTEXT://${HOST}:${KAFKA_PORT},CONTROLLER://${HOST}:${KAFKA_CONTROLLER_PORT}"
  local advertised="PLAINTEXT://${HOST}:${KAFKA_PORT}" protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [[ -n ${KAFKA_SASL_PORT} ]]; then
    listeners+=",SASL_PLAINTEXT://${HOST}:${KAFKA_SASL_PORT}"
    advertised+=",SASL_PLAINTEXT://${HOST}:${KAFKA_SASL_PORT}"
    protocols+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  mkdir -p "${KAFKA_DATA}" "${KAFKA_LOG_DIR}"
  cat >"${KAFKA_PROPS}" <<EOF
# Generated by scripts/infra.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
listeners=${listeners}
advertised.listeners=${advertised}
listener.security.protocol.map=${protocols}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
# Dynamic quorum (formatted with --standalone), so no controller.quorum.voters.
controller.quorum.bootstrap.servers=${HOST}:${KAFKA_CONTROLLER_PORT}
log.dirs=${KAFKA_DATA}
# Single node: every replication factor / ISR requirement must be 1.
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=true
# Frames are whole images: allow records up to 8 MiB (ingest refuses larger ones first).
message.max.bytes=8388608
replica.fetch.max.bytes=8388608
# Tests should not wait 3s for every consumer group to form, nor for 50
# offsets partitions to be created on the first group.
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=10
# A throwaway broker for tests and benches: a bench pushes gigabytes of frames a run, so old
# records go (6 h, or 512 MiB a partition) before they fill the disk; only closed segments are
# deleted, hence segments of 256 MiB.
log.retention.hours=6
log.retention.bytes=536870912
log.segment.bytes=268435456
log.retention.check.interval.ms=60000
# Keep the 2-core machine calm.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
  if [[ -n ${KAFKA_SASL_PORT} ]]; then
    # The zone exchange, as compose and the chart configure it: SCRAM users on the SASL listener,
    # each allowed only what its ACLs say; the plaintext listener's clients (ANONYMOUS: the zone's
    # own services, the controller, the admin tools) are super users.
    cat >>"${KAFKA_PROPS}" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
EOF
  fi

  # Kafka logs via slf4j -> log4j2; without a config it would log nothing.
  # shutdownHook=disable: otherwise log4j closes itself on SIGTERM while
  # Kafka's own shutdown hook is still logging, and the end is lost.
  cat >"${KAFKA_LOG4J}" <<EOF
status = warn
shutdownHook = disable
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${KAFKA_LOG}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
EOF

  # CLI tools: warnings only, to stderr (keeps our stdout clean for eval).
  cat >"${KAFKA_TOOLS_LOG4J}" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

kafka_tool() {
  java -Xmx256m -Dlog4j2.configurationFile="${KAFKA_TOOLS_LOG4J}" -cp "${KAFKA_LIBS}/*" "$@"
}

# Formats the KRaft metadata log once. The controller endpoint is baked into
# the metadata with --standalone, and formatted data is not readable by older
# brokers, so a change of either wipes this throwaway test data.
kafka_format() {
  local stamp="${KAFKA_VERSION} ${HOST}:${KAFKA_CONTROLLER_PORT}" cluster_id user
  local scram=()
  # SCRAM users are made at format time: other users mean other storage.
  [[ -n ${KAFKA_SCRAM_USERS} ]] && stamp+=" scram:$(printf '%s' "${KAFKA_SCRAM_USERS}" | sha256sum | cut -c1-16)"
  if [[ -f ${KAFKA_DATA}/meta.properties ]]; then
    if [[ -r ${KAFKA_STAMP} && $(<"${KAFKA_STAMP}") == "${stamp}" ]]; then
      return 0
    fi
    log "Kafka data in ${KAFKA_DATA} was formatted for another version/controller port; wiping it"
    rm -rf "${KAFKA_DATA}"
    mkdir -p "${KAFKA_DATA}"
  fi
  cluster_id=$(kafka_tool kafka.tools.StorageTool random-uuid)
  for user in ${KAFKA_SCRAM_USERS}; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=${user%%:*},password=${user#*:}]")
  done
  log "formatting Kafka storage (cluster id ${cluster_id})"
  kafka_tool kafka.tools.StorageTool format --standalone \
    --config "${KAFKA_PROPS}" --cluster-id "${cluster_id}" "${scram[@]}" >&2 \
    || die "kafka storage format failed"
  printf '%s\n' "${stamp}" >"${KAFKA_STAMP}"
}

# Like show_tail, but only what the broker logged since byte offset $1, so a
# failure is not explained by an earlier run's log lines.
kafka_show_tail() {
  if [[ -s ${KAFKA_LOG} ]]; then
    printf '[infra] ---- last 40 lines of %s (this start) ----\n' "${KAFKA_LOG}" >&2
    tail -c "+$(($1 + 1))" "${KAFKA_LOG}" | tail -n 40 >&2 || true
  fi
  show_tail "${KAFKA_OUT}"
}

kafka_up() {
  local pid offset deadline port
  if pid=$(kafka_pid); then
    log "Kafka already running (pid ${pid})"
  else
    command -v java >/dev/null || die "java not found (Kafka ${KAFKA_VERSION} needs Java 17+)"
    kafka_fetch
    for port in "${KAFKA_PORT}" "${KAFKA_CONTROLLER_PORT}" ${KAFKA_SASL_PORT}; do
      port_open "${port}" && die "port ${HOST}:${port} is already in use by another process"
    done
    kafka_write_config
    kafka_format
    rm -f "${KAFKA_PID}"
    # kafka.out only holds JVM-level output (crashes, GC); keep this run's.
    : >"${KAFKA_OUT}"
    offset=0
    [[ -f ${KAFKA_LOG} ]] && offset=$(wc -c <"${KAFKA_LOG}")
    log "starting Kafka ${KAFKA_VERSION} on ${HOST}:${KAFKA_PORT} (controller ${HOST}:${KAFKA_CONTROLLER_PORT})"
    # setsid: own session, so the broker survives the calling shell/CI step
    # and is not hit by its Ctrl-C. The inner shell writes its own PID before
    # exec'ing java, so the PID file is exact. No fd of ours stays open in
    # the broker, so `$(infra.sh up)` returns.
    # KAFKA_HEAP is a list of JVM flags; $$/$0/$@ belong to the inner shell.
    # shellcheck disable=SC2086,SC2016
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "${KAFKA_PID}" \
      java ${KAFKA_HEAP} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="${KAFKA_LOG4J}" \
      -Dkafka.logs.dir="${KAFKA_LOG_DIR}" \
      -cp "${KAFKA_LIBS}/*" kafka.Kafka "${KAFKA_PROPS}" \
      </dev/null >>"${KAFKA_OUT}" 2>&1 &
    # The broker logs this line once it is unfenced and serving clients.
    deadline=$((SECONDS + TIMEOUT))
    until [[ -f ${KAFKA_LOG} ]] && tail -c "+$((offset + 1))" "${KAFKA_LOG}" | grep -q 'Kafka Server started'; do
      if ! kafka_pid >/dev/null && ! kill -0 "$!" 2>/dev/null; then
        kafka_show_tail "${offset}"
        die "Kafka exited during startup (logs: ${KAFKA_LOG_DIR})"
      fi
      if ((SECONDS >= deadline)); then
        kafka_show_tail "${offset}"
        # Don't leave a half-started broker that a rerun would take as "up".
        kafka_down
        die "Kafka not ready after ${TIMEOUT}s (logs: ${KAFKA_LOG_DIR})"
      fi
      sleep 0.5
    done
    pid=$(kafka_pid) || die "Kafka started but PID file ${KAFKA_PID} is wrong"
  fi
  # Also covers the "already running" path: it must really accept clients.
  deadline=$((SECONDS + TIMEOUT))
  until port_open "${KAFKA_PORT}"; do
    if ((SECONDS >= deadline)); then
      show_tail "${KAFKA_LOG}" "${KAFKA_OUT}"
      die "Kafka (pid ${pid}) does not accept connections on ${HOST}:${KAFKA_PORT}"
    fi
    sleep 0.5
  done
  log "Kafka ready on ${HOST}:${KAFKA_PORT} (logs: ${KAFKA_LOG_DIR})"
}

kafka_down() {
  local pid deadline
  if ! pid=$(kafka_pid); then
    rm -f "${KAFKA_PID}"
    log "Kafka not running"
    return 0
  fi
  log "stopping Kafka (pid ${pid})"
  # SIGTERM gives a controlled shutdown (clean log segments, fast restart).
  kill -TERM "${pid}" 2>/dev/null || true
  deadline=$((SECONDS + 30))
  while kill -0 "${pid}" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "Kafka did not stop within 30s; sending SIGKILL"
      kill -KILL "${pid}" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.5
  done
  rm -f "${KAFKA_PID}"
  log "Kafka stopped"
}

kafka_status() {
  local pid
  if pid=$(kafka_pid) && port_open "${KAFKA_PORT}"; then
    echo "kafka:      running (pid ${pid}, ${HOST}:${KAFKA_PORT}, version ${KAFKA_VERSION}, logs ${KAFKA_LOG_DIR})"
  elif pid=$(kafka_pid); then
    echo "kafka:      starting/unhealthy (pid ${pid}, ${HOST}:${KAFKA_PORT} not accepting connections)"
    return 1
  else
    echo "kafka:      stopped"
    return 1
  fi
}

# -------------------------------------------------------------- postgresql --
# Existing "schild" cluster's major version, else the newest installed server.
pg_version() {
  local v
  if command -v pg_lsclusters >/dev/null; then
    v=$(pg_lsclusters -h 2>/dev/null | awk -v c="${PG_CLUSTER}" '$2 == c { print $1; exit }')
    if [[ -n ${v} ]]; then printf '%s\n' "${v}"; return 0; fi
  fi
  # shellcheck disable=SC2012  # names are plain version numbers
  v=$(ls -1 /usr/lib/postgresql/*/bin/postgres 2>/dev/null | awk -F/ '{ print $5 }' | sort -n | tail -n 1)
  [[ -n ${v} ]] || return 1
  printf '%s\n' "${v}"
}

pg_install() {
  if command -v pg_createcluster >/dev/null && pg_version >/dev/null; then
    return 0
  fi
  log "PostgreSQL server not installed; installing it with apt-get"
  as_root apt-get update >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
  if ! command -v pg_createcluster >/dev/null || ! pg_version >/dev/null; then
    die "apt-get install postgresql did not provide pg_createcluster"
  fi
}

# Field N of our cluster's pg_lsclusters line (2=name 3=port 4=status).
pg_field() {
  pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="${PG_CLUSTER}" -v f="$2" '$1 == v && $2 == c { print $f }'
}

pg_running() {
  [[ $(pg_field "$1" 4) == online* ]]
}

pg_log_file() {
  local f
  f=$(pg_lsclusters -h 2>/dev/null | awk -v v="$1" -v c="${PG_CLUSTER}" '$1 == v && $2 == c { print $7 }')
  printf '%s\n' "${f:-/var/log/postgresql/postgresql-$1-${PG_CLUSTER}.log}"
}

# Writes a file under /etc/postgresql only when its content changes; returns
# 0 if it changed (so the caller knows a restart is needed).
pg_put_file() {
  local path=$1 content=$2
  if [[ -r ${path} && $(<"${path}") == "${content}" ]]; then
    return 1
  fi
  printf '%s\n' "${content}" | as_root tee "${path}" >/dev/null
  as_root chown postgres:postgres "${path}"
  return 0
}

pg_up() {
  local ver conf_dir changed=0 out deadline logf
  pg_install
  ver=$(pg_version) || die "no PostgreSQL server version found"
  conf_dir=/etc/postgresql/${ver}/${PG_CLUSTER}

  if [[ -z $(pg_field "${ver}" 2) ]]; then
    log "creating PostgreSQL ${ver} cluster '${PG_CLUSTER}' on port ${PG_PORT}"
    # UTF8 explicitly: containers often have no LANG, which would give
    # SQL_ASCII. start-conf=manual: only this script starts it, not boot.
    as_root pg_createcluster "${ver}" "${PG_CLUSTER}" -p "${PG_PORT}" \
      --encoding=UTF8 --locale=C.UTF-8 --start-conf=manual >&2 \
      || die "pg_createcluster ${ver} ${PG_CLUSTER} failed"
  fi

  # Port lives in postgresql.conf, where pg_lsclusters/pg_ctlcluster read it.
  if [[ $(pg_field "${ver}" 3) != "${PG_PORT}" ]]; then
    log "moving cluster ${ver}/${PG_CLUSTER} to port ${PG_PORT}"
    as_root pg_conftool "${ver}" "${PG_CLUSTER}" set port "${PG_PORT}"
    changed=1
  fi

  # Settings for a throwaway test cluster; conf.d is included by the Debian
  # postgresql.conf and wins over it. Durability is traded for speed.
  if pg_put_file "${conf_dir}/conf.d/90-schild.conf" "# Managed by scripts/infra.sh
listen_addresses = '${HOST}'
password_encryption = 'scram-sha-256'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off"; then
    changed=1
  fi
  # Password auth over TCP on 127.0.0.1 (Debian's default already has this
  # line; make sure, in case the default template was changed).
  if ! as_root grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+(scram-sha-256|md5)' "${conf_dir}/pg_hba.conf"; then
    printf 'host all all 127.0.0.1/32 scram-sha-256\n' | as_root tee -a "${conf_dir}/pg_hba.conf" >/dev/null
    changed=1
  fi

  logf=$(pg_log_file "${ver}")
  if pg_running "${ver}"; then
    if ((changed)); then
      log "PostgreSQL config changed; restarting cluster ${ver}/${PG_CLUSTER}"
      out=$(as_root pg_ctlcluster "${ver}" "${PG_CLUSTER}" restart -m fast </dev/null 2>&1) \
        || { printf '%s\n' "${out}" >&2; show_tail "${logf}"; die "pg_ctlcluster restart failed"; }
    else
      log "PostgreSQL ${ver}/${PG_CLUSTER} already running"
    fi
  else
    log "starting PostgreSQL ${ver}/${PG_CLUSTER} on ${HOST}:${PG_PORT}"
    # Output captured (not inherited) so the postmaster keeps none of our fds.
    out=$(as_root pg_ctlcluster "${ver}" "${PG_CLUSTER}" start </dev/null 2>&1) \
      || { printf '%s\n' "${out}" >&2; show_tail "${logf}"; die "pg_ctlcluster start failed"; }
  fi

  deadline=$((SECONDS + TIMEOUT))
  until "/usr/lib/postgresql/${ver}/bin/pg_isready" -q -h "${HOST}" -p "${PG_PORT}" -t 2; do
    if ((SECONDS >= deadline)); then
      show_tail "${logf}"
      die "PostgreSQL not ready on ${HOST}:${PG_PORT} after ${TIMEOUT}s (log: ${logf})"
    fi
    sleep 0.5
  done

  # Role and database; idempotent, and resets the password in case it drifted.
  # Runs as the postgres superuser over the Unix socket (peer auth).
  if ! as_postgres "/usr/lib/postgresql/${ver}/bin/psql" -X -q -v ON_ERROR_STOP=1 \
    -h /var/run/postgresql -p "${PG_PORT}" -d postgres >&2 <<SQL; then
SELECT format('CREATE ROLE %I', '${PG_USER}')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PG_USER}')\gexec
ALTER ROLE ${PG_USER} WITH LOGIN CREATEDB CREATEROLE PASSWORD '${PG_PASSWORD}';
SELECT format('CREATE DATABASE %I OWNER %I', '${PG_DB}', '${PG_USER}')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '${PG_DB}')\gexec
-- The owner role migrates (creates the schemas, so CREATE on the database); the runtime role
-- only logs in: each service grants it what it needs on its own tables, and it owns nothing.
SELECT format('CREATE ROLE %I', '${PG_OWNER}')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PG_OWNER}')\gexec
ALTER ROLE ${PG_OWNER} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${PG_OWNER}';
SELECT format('CREATE ROLE %I', '${PG_APP}')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PG_APP}')\gexec
ALTER ROLE ${PG_APP} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${PG_APP}';
GRANT CREATE ON DATABASE ${PG_DB} TO ${PG_OWNER};
-- The tests' role drops each test's database WITH (FORCE): it must be allowed to end the sessions
-- the services' roles may still hold on it (a service process stopping as the test ends).
GRANT pg_signal_backend TO ${PG_USER};
SQL
    die "could not create roles/database '${PG_DB}'"
  fi
  log "PostgreSQL ready on ${HOST}:${PG_PORT} (log: ${logf})"
}

pg_down() {
  local ver
  if ! command -v pg_lsclusters >/dev/null || ! ver=$(pg_version) || [[ -z $(pg_field "${ver}" 2) ]]; then
    log "PostgreSQL cluster '${PG_CLUSTER}' does not exist"
    return 0
  fi
  if pg_running "${ver}"; then
    log "stopping PostgreSQL ${ver}/${PG_CLUSTER}"
    as_root pg_ctlcluster "${ver}" "${PG_CLUSTER}" stop -m fast </dev/null >&2
    log "PostgreSQL stopped"
  else
    log "PostgreSQL not running"
  fi
}

pg_status() {
  local ver
  if ! command -v pg_lsclusters >/dev/null || ! ver=$(pg_version) || [[ -z $(pg_field "${ver}" 2) ]]; then
    echo "postgresql: not created"
    return 1
  fi
  if "/usr/lib/postgresql/${ver}/bin/pg_isready" -q -h "${HOST}" -p "${PG_PORT}" -t 2; then
    echo "postgresql: running (${ver}/${PG_CLUSTER}, ${HOST}:${PG_PORT}, log $(pg_log_file "${ver}"))"
  else
    echo "postgresql: stopped (${ver}/${PG_CLUSTER}, port ${PG_PORT})"
    return 1
  fi
}

# -------------------------------------------------------------------- main --
usage() {
  echo "usage: $0 up|down|status|env|kafka-up|kafka-down|kafka-acls ARGS...|kafka-configs ARGS..." >&2
  exit 2
}

main() {
  local rc=0 start
  [[ $# -eq 1 || ${1:-} == kafka-acls || ${1:-} == kafka-configs ]] || usage
  case $1 in
    up)
      start=${SECONDS}
      mkdir -p "${STATE_DIR}"
      # Postgres first: it is quick, and Kafka's JVM then has both cores.
      pg_up
      kafka_up
      log "all up in $((SECONDS - start))s; state in ${STATE_DIR}"
      print_env
      ;;
    down)
      kafka_down
      pg_down
      ;;
    status)
      kafka_status || rc=1
      pg_status || rc=1
      return "${rc}"
      ;;
    env)
      print_env
      ;;
    kafka-up)
      mkdir -p "${STATE_DIR}"
      kafka_up
      printf 'export ANPR_KAFKA_BOOTSTRAP=%s:%s\n' "${HOST}" "${KAFKA_PORT}"
      if [[ -n ${KAFKA_SASL_PORT} ]]; then
        printf 'export SCHILD_KAFKA_SASL_BOOTSTRAP=%s:%s\n' "${HOST}" "${KAFKA_SASL_PORT}"
      fi
      ;;
    kafka-down)
      kafka_down
      ;;
    kafka-acls | kafka-configs)
      kafka_fetch
      [[ -r ${KAFKA_TOOLS_LOG4J} ]] || kafka_write_config
      local tool=org.apache.kafka.tools.AclCommand
      [[ $1 == kafka-configs ]] && tool=org.apache.kafka.tools.ConfigCommand
      shift
      kafka_tool "${tool}" --bootstrap-server "${HOST}:${KAFKA_PORT}" "$@"
      ;;
    *) usage ;;
  esac
}

main "$@"
