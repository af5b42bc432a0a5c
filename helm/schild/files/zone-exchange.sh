#!/usr/bin/env bash
# The zone exchange: the Kafka SASL listener on which neighbouring police zones share topics.
# Each zone is one SCRAM user, zone-<ZONE>, allowed by its ACLs to
#   - write (and create) its own topics, those named zone.<ZONE>.* (and use its consumer groups,
#     zone.<ZONE>.*);
#   - read what each neighbour shares with it: zone.<NEIGHBOUR>.<ZONE>.* (given by the neighbour's
#     run of `acls`, one topic pair per neighbour, so no neighbour reads what another's agreement
#     allows);
#   - nothing else: not another zone's topics, not the zone's internal anpr.* topics.
#
#   zone-exchange.sh users ZONE=PASSWORD_FILE...    SCRAM-SHA-512 user zone-<ZONE> per pair
#   zone-exchange.sh acls ZONE [NEIGHBOUR...]       ZONE's ACLs, and each NEIGHBOUR's read of its topics
#
# Environment:
#   KAFKA_BOOTSTRAP        an admin listener of the broker (default localhost:9092)
#   KAFKA_COMMAND_CONFIG   admin client properties (an admin's SASL login), if that listener asks
#   KAFKA_ACLS, KAFKA_CONFIGS   the tools (default /opt/kafka/bin/kafka-acls.sh, kafka-configs.sh);
#                          scripts/infra.sh passes "scripts/infra.sh kafka-acls" for the test broker
#   TOPIC_PREFIX           what every topic and group name starts with (tests; default none)
# Used by docker-compose.yml (service kafka-exchange), the chart (Job zone-exchange) and the tests.
set -euo pipefail

BOOTSTRAP=${KAFKA_BOOTSTRAP:-localhost:9092}
ACLS=${KAFKA_ACLS:-/opt/kafka/bin/kafka-acls.sh}
CONFIGS=${KAFKA_CONFIGS:-/opt/kafka/bin/kafka-configs.sh}
PREFIX=${TOPIC_PREFIX:-}
# Zone ids name topics: no dots (a zone's prefix must not be another's), nothing a shell expands.
ZONE_ID='^[A-Za-z0-9_-]{1,32}$'

admin() {
  local tool=$1
  shift
  local connect=()
  # The test broker's wrapper adds its own --bootstrap-server.
  [[ ${tool} == *infra.sh* ]] || connect=(--bootstrap-server "${BOOTSTRAP}")
  [[ -n ${KAFKA_COMMAND_CONFIG:-} ]] && connect+=(--command-config "${KAFKA_COMMAND_CONFIG}")
  # shellcheck disable=SC2086  # a tool may be a command with arguments
  ${tool} "${connect[@]}" "$@" >&2
}

zone_ok() {
  [[ $1 =~ ${ZONE_ID} ]] || { echo "zone-exchange: bad zone id '$1'" >&2; exit 2; }
}

users() {
  local pair zone file
  for pair in "$@"; do
    zone=${pair%%=*}
    file=${pair#*=}
    zone_ok "${zone}"
    [[ -r ${file} ]] || { echo "zone-exchange: no password file ${file} for zone ${zone}" >&2; exit 2; }
    admin "${CONFIGS}" --alter --entity-type users --entity-name "zone-${zone}" \
      --add-config "SCRAM-SHA-512=[iterations=8192,password=$(<"${file}")]"
  done
}

acls() {
  local zone=$1 neighbour
  shift
  zone_ok "${zone}"
  # Its own topics: written by its share service (which creates them), and its groups.
  admin "${ACLS}" --add --allow-principal "User:zone-${zone}" --resource-pattern-type prefixed \
    --topic "${PREFIX}zone.${zone}." --operation Write --operation Create --operation Describe
  admin "${ACLS}" --add --allow-principal "User:zone-${zone}" --resource-pattern-type prefixed \
    --group "${PREFIX}zone.${zone}." --operation Read --operation Describe
  # What it shares with each neighbour, read by that neighbour only.
  for neighbour in "$@"; do
    zone_ok "${neighbour}"
    admin "${ACLS}" --add --allow-principal "User:zone-${neighbour}" --resource-pattern-type prefixed \
      --topic "${PREFIX}zone.${zone}.${neighbour}." --operation Read --operation Describe
  done
}

case ${1:-} in
  users) shift; users "$@" ;;
  acls) shift; [[ $# -ge 1 ]] || { echo "usage: $0 acls ZONE [NEIGHBOUR...]" >&2; exit 2; }; acls "$@" ;;
  *) echo "usage: $0 users ZONE=PASSWORD_FILE... | acls ZONE [NEIGHBOUR...]" >&2; exit 2 ;;
esac
