"""Static checks of Schild's deployment files.

Covers docker-compose.yml (against the compose-spec JSON schema fixture plus
semantic checks), services/*/Dockerfile, deploy/prometheus, deploy/grafana and
the Helm chart in helm/schild. No network access. promtool and helm come from
`make tools` (scripts/tools.sh; helm also via $HELM_BIN); a missing tool fails
the tests that need it, it never skips them.

Run: python -m pytest deploy/tests --import-mode=importlib
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TESTS_DIR = Path(__file__).resolve().parent
COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE_SCHEMA = REPO / "deploy" / "schemas" / "compose" / "compose-spec.json"  # SOURCES.md there
PROM_DIR = REPO / "deploy" / "prometheus"
GRAFANA_DIR = REPO / "deploy" / "grafana"
CHART_DIR = REPO / "helm" / "schild"
METRICS_PY = REPO / "libs" / "core" / "src" / "anpr_core" / "metrics.py"

SERVICES = ("ingest", "detect", "match", "audit", "access", "share")
HOST_PORTS = {"ingest": 8001, "detect": 8002, "match": 8003, "audit": 8004, "access": 8005, "share": 8007}
EXCHANGE_SCRIPT = REPO / "deploy" / "kafka" / "zone-exchange.sh"
TOPICS = (
    "anpr.frames.v1",
    "anpr.reads.v1",
    "anpr.passages.v1",
    "anpr.hits.v1",
    "anpr.hotlist.v1",
    "anpr.audit.v1",
    "anpr.dlq.v1",
)
COMMON_ENV = (
    "ANPR_ENV",
    "ANPR_HOST",
    "ANPR_PORT",
    "ANPR_ZONE_ID",
    "ANPR_KAFKA_BOOTSTRAP",
    "ANPR_DATABASE_URL",
    "ANPR_DEV_ISSUER_KEY_PATH",
    "ANPR_METRICS_TOKEN",
)
ALERT_METRICS = {
    "CameraSilent": "anpr_camera_last_seen_timestamp_seconds",
    "ConsumerLagGrowing": "anpr_consumer_lag",
    "DLQGrowing": "anpr_dlq_messages_total",
    "AuditChainBroken": "anpr_audit_chain_valid",
}
DASHBOARD_METRICS = (
    "anpr_frames_received_total",
    "anpr_reads_total",
    "anpr_hits_total",
    "anpr_detect_latency_seconds_bucket",
    "anpr_dlq_messages_total",
    "anpr_consumer_lag",
)
KUBE_VERSION = "1.30.0"


# --------------------------------------------------------------------------- helpers


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _compose() -> dict[str, Any]:
    return cast(dict[str, Any], _load_yaml(COMPOSE_FILE))


def _service_dirs() -> list[str]:
    """Service directories present under services/ (with a Dockerfile or pyproject)."""
    root = REPO / "services"
    return sorted(
        d.name
        for d in root.iterdir()
        if d.is_dir() and ((d / "Dockerfile").exists() or (d / "pyproject.toml").exists())
    )


def _depends_on_targets(svc: dict[str, Any]) -> list[str]:
    dep = svc.get("depends_on") or []
    return list(dep) if isinstance(dep, (list, dict)) else []


def _env_dict(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """Split a Dockerfile into (INSTRUCTION, arguments) pairs.

    Handles comments, blank lines and backslash continuations (comment lines
    inside a continuation are dropped, as BuildKit does). No heredocs.
    """
    instructions: list[tuple[str, str]] = []
    buf: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buf):
            continue
        if not stripped:
            continue
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].strip())
            continue
        buf.append(stripped)
        line = " ".join(part for part in buf if part)
        buf = []
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not buf, "Dockerfile ends inside a line continuation"
    return instructions


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in instructions:
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def _copy_sources(args: str) -> list[str] | None:
    """Source paths of a COPY from the build context; None for COPY --from=."""
    words = args.split()
    if any(w.startswith("--from") for w in words):
        return None
    words = [w for w in words if not w.startswith("--")]
    if words and words[0].startswith("["):
        words = json.loads(args[args.index("[") :])
    return words[:-1]


def _dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Approximation of .dockerignore matching (last matching pattern wins)."""
    ignored = False
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat.lstrip("!").strip("/")
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, pat) or (
                pat.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1], pat[3:])
            ):
                ignored = not negate
                break
    return ignored


def _workspace_members() -> list[str]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = root.get("tool", {}).get("uv", {}).get("workspace", {}).get("members", [])
    excludes = root.get("tool", {}).get("uv", {}).get("workspace", {}).get("exclude", [])
    members: set[str] = set()
    for pattern in globs:
        for path in REPO.glob(pattern):
            rel = path.relative_to(REPO).as_posix()
            if (path / "pyproject.toml").exists() and not any(
                fnmatch.fnmatchcase(rel, ex) for ex in excludes
            ):
                members.add(rel)
    return sorted(members)


def _declared_metrics() -> dict[str, set[str]]:
    """Metric name -> label names, read (without importing) from anpr_core/metrics.py.

    Histograms also yield their _bucket/_sum/_count series (with "le" on _bucket).
    """
    tree = ast.parse(METRICS_PY.read_text(encoding="utf-8"))
    metrics: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        kind = node.func.id
        if kind not in ("Counter", "Gauge", "Histogram", "Summary") or not node.args:
            continue
        name = ast.literal_eval(node.args[0])
        labels: list[str] = []
        if len(node.args) > 2:
            labels = list(ast.literal_eval(node.args[2]))
        for kw in node.keywords:
            if kw.arg == "labelnames":
                labels = list(ast.literal_eval(kw.value))
        base = set(labels)
        if kind == "Counter":
            name = name if name.endswith("_total") else f"{name}_total"
            metrics[name] = base
        elif kind == "Histogram":
            metrics[f"{name}_bucket"] = base | {"le"}
            metrics[f"{name}_sum"] = base
            metrics[f"{name}_count"] = base
        else:
            metrics[name] = base
    return metrics


_TARGET_LABELS = {"job", "instance"}


def _check_expr_against_metrics(expr: str, declared: dict[str, set[str]], where: str) -> None:
    used = set(re.findall(r"\banpr_[a-z0-9_]+", expr))
    for metric in used:
        assert metric in declared, f"{where}: {metric} is not declared in anpr_core/metrics.py"
    allowed = set().union(*(declared[m] for m in used)) | _TARGET_LABELS if used else _TARGET_LABELS
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        for label in filter(None, (lbl.strip() for lbl in group.split(","))):
            assert label in allowed, f"{where}: label {label!r} not on {sorted(used)}"


def _tool(name: str) -> str:
    """The tool's path; a missing tool fails the check (never skips it): `make tools` installs it."""
    if name == "helm" and os.environ.get("HELM_BIN"):
        return os.environ["HELM_BIN"]
    found = shutil.which(name) or shutil.which(name, path=str(REPO / ".tools" / "bin"))
    assert found, f"{name} is not installed: run `make tools` (scripts/tools.sh)"
    return found


def _run(
    cmd: list[str], cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False)


# --------------------------------------------------------------------------- compose


def test_compose_validates_against_compose_spec_schema() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(_compose()), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
    )


def test_compose_spec_schema_fixture_rejects_invalid_documents() -> None:
    """Guards against a vacuous fixture: known-bad documents must fail."""
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    bad_key = copy.deepcopy(_compose())
    bad_key["services"]["ingest"]["not_a_compose_key"] = True
    assert list(validator.iter_errors(bad_key))
    bad_condition = copy.deepcopy(_compose())
    bad_condition["services"]["ingest"]["depends_on"]["kafka"]["condition"] = "eventually"
    assert list(validator.iter_errors(bad_condition))


def test_compose_builds_every_service_from_its_dockerfile() -> None:
    compose = _compose()["services"]
    dirs = _service_dirs()
    assert set(SERVICES) <= set(dirs), f"missing service dirs: {set(SERVICES) - set(dirs)}"
    for name in dirs:
        assert name in compose, f"services/{name} has no compose service"
        build = compose[name].get("build")
        assert isinstance(build, dict), f"{name}: build must be a mapping"
        assert build.get("context") == ".", f"{name}: build context must be the repo root"
        dockerfile = build.get("dockerfile")
        assert dockerfile == f"services/{name}/Dockerfile", f"{name}: dockerfile is {dockerfile}"
        assert (REPO / dockerfile).is_file()


def test_compose_depends_on_targets_exist() -> None:
    services = _compose()["services"]
    for name, svc in services.items():
        for target in _depends_on_targets(svc):
            assert target in services, f"{name} depends on unknown service {target!r}"
            assert target != name


def test_compose_kafka_is_single_node_kraft_without_zookeeper() -> None:
    compose = _compose()
    services = compose["services"]
    assert not any("zookeeper" in n.lower() for n in services), "no ZooKeeper service expected"
    for svc in services.values():
        assert "zookeeper" not in str(svc.get("image", "")).lower()
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:4\.1\.\d+", kafka["image"]), kafka["image"]
    env = _env_dict(kafka)
    assert not any("ZOOKEEPER" in key for key in env)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_NODE_ID"] == "1"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert "CONTROLLER://" in env["KAFKA_LISTENERS"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env.get("CLUSTER_ID"), "KRaft needs a fixed CLUSTER_ID"
    rf_keys = [k for k in env if k.endswith("REPLICATION_FACTOR") or k.endswith("MIN_ISR")]
    assert {
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
    } <= set(rf_keys)
    assert all(env[k] == "1" for k in rf_keys), {k: env[k] for k in rf_keys}
    assert kafka.get("healthcheck", {}).get("test")


def test_compose_kafka_has_the_zone_exchange_and_share_logs_in_there() -> None:
    """The exchange: a SASL/SCRAM listener with ACLs enforced (the internal plaintext listener's
    clients stay super users), its users and ACLs made by deploy/kafka/zone-exchange.sh before share
    starts, share logged in there as its zone's user."""
    services = _compose()["services"]
    kafka = _env_dict(services["kafka"])
    assert "EXCHANGE://:9094" in kafka["KAFKA_LISTENERS"]
    assert "EXCHANGE:SASL_PLAINTEXT" in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert kafka["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert kafka["KAFKA_SUPER_USERS"] == "User:ANONYMOUS"
    init = services["kafka-exchange"]
    mounts = {str(v).split(":")[0]: str(v).split(":")[1] for v in init["volumes"]}
    assert mounts["./deploy/kafka/zone-exchange.sh"] == "/opt/schild/zone-exchange.sh"
    command = " ".join(init["command"])
    assert "zone-exchange.sh users 5344=" in command and "zone-exchange.sh acls 5344" in command
    share = services["share"]
    assert share["depends_on"]["kafka-exchange"]["condition"] == "service_completed_successfully"
    env = _env_dict(share)
    assert env["ANPR_SHARE_EXCHANGE_BOOTSTRAP"] == "kafka:9094"
    assert env["ANPR_SHARE_EXCHANGE_USERNAME"] == "zone-5344"
    password_file = next(src for src, dst in mounts.items() if dst == "/opt/schild/zone-5344.password")
    assert (REPO / password_file).read_text() == env["ANPR_SHARE_EXCHANGE_PASSWORD"]


def test_compose_topics_come_only_from_the_services() -> None:
    """No auto-creation: topics get the services' settings (max.message.bytes, compaction)."""
    services = _compose()["services"]
    assert _env_dict(services["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert not any("kafka-topics" in json.dumps(svc) for svc in services.values()), (
        "topics are created by KafkaBus.ensure_topics; a compose-side creation would pin other settings"
    )


def test_compose_postgres_and_service_wiring() -> None:
    compose = _compose()
    services = compose["services"]
    pg = services["postgres"]
    assert str(pg["image"]).startswith("postgres:16")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])

    for name in SERVICES:
        svc = services[name]
        deps = svc["depends_on"]
        assert deps["kafka"]["condition"] == "service_healthy"
        assert deps["postgres"]["condition"] == "service_healthy"
        env = _env_dict(svc)
        missing = [k for k in COMMON_ENV if not env.get(k)]
        assert not missing, f"{name}: missing env {missing}"
        assert env["ANPR_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["ANPR_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in env["ANPR_DATABASE_URL"]
        assert re.fullmatch(r"\d{4}", env["ANPR_ZONE_ID"]), "Belgian police zone number"
        assert env["ANPR_ENV"] == "development"
        assert env["ANPR_HOST"] == "0.0.0.0", "the services default to 127.0.0.1"  # noqa: S104
        assert f"127.0.0.1:{HOST_PORTS[name]}:8000" in [str(p) for p in svc["ports"]]
        key_dir = os.path.dirname(env["ANPR_DEV_ISSUER_KEY_PATH"])
        assert any(str(v).split(":")[1] == key_dir for v in svc.get("volumes", [])), (
            f"{name}: dev issuer key dir {key_dir} is not mounted"
        )
    assert _env_dict(services["detect"]).get("ORT_DISABLE_TELEMETRY") == "1"
    published = [str(p) for s in services.values() for p in s.get("ports", [])]
    host_ports = [p.split(":")[-2] for p in published]
    assert len(host_ports) == len(set(host_ports)), f"duplicate host ports: {host_ports}"
    exposed = [p for p in published if not p.startswith("127.0.0.1:")]
    assert not exposed, f"dev stack ports must bind to loopback only: {exposed}"


def test_compose_volumes_and_bind_mounts_exist() -> None:
    compose = _compose()
    declared = set(compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            source = str(vol).split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: bind mount source {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} not declared"
    prom_mounts = " ".join(compose["services"]["prometheus"]["volumes"])
    assert "./deploy/prometheus/prometheus.yml:" in prom_mounts
    assert "./deploy/prometheus/alerts.yml:" in prom_mounts
    graf_mounts = " ".join(compose["services"]["grafana"]["volumes"])
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning" in graf_mounts
    assert "./deploy/grafana/dashboards:" in graf_mounts


# --------------------------------------------------------------------------- Dockerfiles


@pytest.mark.parametrize("name", (*SERVICES, "console"))
def test_dockerfile_structure(name: str) -> None:
    path = REPO / "services" / name / "Dockerfile"
    instructions = _parse_dockerfile(path.read_text(encoding="utf-8"))
    assert instructions and instructions[0][0] == "FROM", "first instruction must be FROM"
    known = {
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
    }
    assert {ins for ins, _ in instructions} <= known

    stages = _stages(instructions)
    for stage in stages:
        base = stage[0][1].split()[0]
        assert base == "python:3.11-slim", f"unexpected base image {base}"
    final = stages[-1]

    def keyword_args(keyword: str) -> list[str]:
        return [args for ins, args in final if ins == keyword]

    cmds = keyword_args("CMD")
    assert cmds, "final stage needs a CMD"
    assert json.loads(cmds[-1]) == ["python", "-m", f"anpr_{name}"]
    assert not keyword_args("ENTRYPOINT")

    healthchecks = keyword_args("HEALTHCHECK")
    assert healthchecks, "final stage needs a HEALTHCHECK"
    assert "/healthz" in healthchecks[-1] and "urllib" in healthchecks[-1]
    assert "CMD" in healthchecks[-1].split()

    users = keyword_args("USER")
    assert users, "final stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), "must not run as root"

    assert "8000" in " ".join(keyword_args("EXPOSE")).split()

    all_runs = " ".join(args for ins, args in instructions if ins == "RUN")
    assert re.search(r"pip install [\"']?uv\b", all_runs), "uv must be installed from PyPI"
    sync = [a for ins, a in instructions if ins == "RUN" and "uv sync" in a]
    assert sync, "no uv sync"
    for flag in ("--frozen", "--no-dev", f"--package anpr-{name}"):
        assert all(flag in a for a in sync), f"every uv sync needs {flag}"

    envs = " ".join(keyword_args("ENV"))
    assert "ANPR_HOST=0.0.0.0" in envs, "the services default to 127.0.0.1"
    assert "ANPR_PORT=8000" in envs
    if name == "detect":
        assert "ORT_DISABLE_TELEMETRY=1" in envs
        final_runs = " ".join(keyword_args("RUN"))
        assert "libgl1" in final_runs and "libglib2.0-0" in final_runs
    else:
        assert "ORT_DISABLE_TELEMETRY" not in envs


@pytest.mark.parametrize("name", (*SERVICES, "console"))
def test_dockerfile_copies_match_the_uv_workspace(name: str) -> None:
    """COPY sources exist, survive .dockerignore, and cover every workspace member."""
    instructions = _parse_dockerfile((REPO / "services" / name / "Dockerfile").read_text("utf-8"))
    patterns = _dockerignore_patterns()
    sources: list[str] = []
    for ins, args in instructions:
        if ins in ("COPY", "ADD"):
            srcs = _copy_sources(args)
            if srcs is not None:
                sources.extend(s.rstrip("/") for s in srcs)
    for src in sources:
        assert (REPO / src).exists(), f"COPY source {src} does not exist"
        assert not _dockerignored(src, patterns), f"COPY source {src} is excluded by .dockerignore"

    for member in _workspace_members():
        assert f"{member}/pyproject.toml" in sources, (
            f"workspace member {member} is not copied before `uv sync` (add its pyproject.toml)"
        )
    service_project = tomllib.loads((REPO / "services" / name / "pyproject.toml").read_text("utf-8"))
    assert service_project["project"]["name"] == f"anpr-{name}"
    assert f'name = "anpr-{name}"' in (REPO / "uv.lock").read_text(encoding="utf-8")


def test_dockerignore_excludes_local_state_but_not_the_workspace() -> None:
    patterns = _dockerignore_patterns()
    for path in (
        ".venv",
        "var/dev-issuer.key",
        ".git/HEAD",
        "libs/core/.pytest_cache/x",
        "services/ingest/src/anpr_ingest/__pycache__/x.pyc",
        "libs/core/.mypy_cache/x",
    ):
        assert _dockerignored(path, patterns), f"{path} should be excluded from the build context"
    for path in (
        "pyproject.toml",
        "uv.lock",
        "libs/core/pyproject.toml",
        "libs/core/src/anpr_core/__init__.py",
        "services/detect/src/anpr_detect/app.py",
        "services/detect/README.md",
    ):
        assert not _dockerignored(path, patterns), f"{path} must stay in the build context"


# --------------------------------------------------------------------------- Prometheus


def test_prometheus_config_scrapes_all_services() -> None:
    config = _load_yaml(PROM_DIR / "prometheus.yml")
    targets = {
        target
        for job in config["scrape_configs"]
        for sc in job.get("static_configs", [])
        for target in sc.get("targets", [])
    }
    for name in SERVICES:
        assert f"{name}:8000" in targets, f"prometheus does not scrape {name}"
        job = next(j for j in config["scrape_configs"] if j["job_name"] == name)
        assert job.get("metrics_path", "/metrics") == "/metrics"
    for rule_file in config["rule_files"]:
        assert (PROM_DIR / rule_file).is_file(), f"rule file {rule_file} not next to prometheus.yml"


def test_prometheus_scrapes_with_the_services_metrics_token() -> None:
    """/metrics answers Prometheus only: every scrape carries the token the services ask for."""
    config = _load_yaml(PROM_DIR / "prometheus.yml")
    compose = _compose()["services"]
    mounts = {
        str(v).split(":")[1]: str(v).split(":")[0] for v in compose["prometheus"]["volumes"] if ":" in str(v)
    }
    for name in SERVICES:
        job = next(j for j in config["scrape_configs"] if j["job_name"] == name)
        authorization = job.get("authorization", {})
        assert authorization.get("type", "Bearer") == "Bearer", name
        token_file = authorization.get("credentials_file")
        assert token_file and "credentials" not in authorization, f"{name}: no token file in the scrape"
        in_container = token_file if token_file.startswith("/") else f"/etc/prometheus/{token_file}"
        assert in_container in mounts, f"{name}: {in_container} is not mounted into prometheus"
        token = (REPO / mounts[in_container]).read_text(encoding="utf-8").strip()
        assert len(token) >= 16, "the services refuse a scrape token under 16 characters"
        assert _env_dict(compose[name])["ANPR_METRICS_TOKEN"] == token, (
            f"{name} asks for another token than prometheus sends"
        )


def test_alert_rules_mention_their_metrics() -> None:
    rules = {
        rule["alert"]: rule
        for group in _load_yaml(PROM_DIR / "alerts.yml")["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    for alert, metric in ALERT_METRICS.items():
        assert alert in rules, f"missing alert {alert}"
        assert metric in rules[alert]["expr"], f"{alert} does not use {metric}"
        assert rules[alert]["labels"]["severity"] in ("warning", "critical")
        assert rules[alert]["annotations"]["summary"]
    assert "increase(anpr_dlq_messages_total[10m]) > 0" in rules["DLQGrowing"]["expr"]
    assert re.search(r"anpr_audit_chain_valid(\{[^}]*\})?\s*==\s*0", rules["AuditChainBroken"]["expr"])
    assert re.search(r"(15 \* 60|900)", rules["CameraSilent"]["expr"]), "15 minute threshold"
    assert rules["AuditChainBroken"]["labels"]["severity"] == "critical"

    tests = _load_yaml(PROM_DIR / "alerts.test.yml")
    tested = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])}
    assert set(rules) <= tested, f"alerts without a promtool unit test: {set(rules) - tested}"


def test_promtool_checks_config_rules_and_alert_unit_tests() -> None:
    promtool = _tool("promtool")
    for cmd, cwd in (
        ([promtool, "check", "config", "prometheus.yml"], PROM_DIR),
        ([promtool, "check", "rules", "alerts.yml"], PROM_DIR),
        ([promtool, "test", "rules", "alerts.test.yml"], PROM_DIR),
    ):
        res = _run(cmd, cwd=cwd)
        assert res.returncode == 0, f"{' '.join(cmd[1:])} failed:\n{res.stdout}\n{res.stderr}"


def test_promtool_parses_grafana_dashboard_queries(tmp_path: Path) -> None:
    promtool = _tool("promtool")
    dashboard = json.loads((GRAFANA_DIR / "dashboards" / "schild-overview.json").read_text("utf-8"))
    grafana_vars = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m"}
    rules = []
    for panel in dashboard["panels"]:
        for i, target in enumerate(panel.get("targets", [])):
            expr = target["expr"]
            for var, value in grafana_vars.items():
                expr = expr.replace(var, value)
            assert "$" not in expr, f"unsubstituted variable in {expr}"
            rules.append({"record": f"schild:dashboard:panel{panel['id']}_{i}", "expr": expr})
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    res = _run([promtool, "check", "rules", str(rule_file)])
    assert res.returncode == 0, f"dashboard PromQL does not parse:\n{res.stdout}\n{res.stderr}"


def test_alerts_and_dashboard_use_metrics_declared_by_the_services() -> None:
    """Metric and label names match libs/core/src/anpr_core/metrics.py (read, not imported)."""
    declared = _declared_metrics()
    rules = [rule for group in _load_yaml(PROM_DIR / "alerts.yml")["groups"] for rule in group["rules"]]
    for rule in rules:
        where = f"alert {rule.get('alert')}"
        _check_expr_against_metrics(rule["expr"], declared, where)
        used = set(re.findall(r"\banpr_[a-z0-9_]+", rule["expr"]))
        allowed = set().union(*(declared[m] for m in used)) | _TARGET_LABELS if used else _TARGET_LABELS
        for text in rule.get("annotations", {}).values():
            for label in re.findall(r"\$labels\.([a-zA-Z_]+)", text):
                assert label in allowed, f"{where}: annotation uses unknown label {label!r}"
    dashboard = json.loads((GRAFANA_DIR / "dashboards" / "schild-overview.json").read_text("utf-8"))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            where = f"panel {panel['title']!r}"
            _check_expr_against_metrics(target["expr"], declared, where)
            used = set(re.findall(r"\banpr_[a-z0-9_]+", target["expr"]))
            allowed = set().union(*(declared[m] for m in used)) | _TARGET_LABELS if used else _TARGET_LABELS
            for label in re.findall(r"\{\{\s*([a-zA-Z_]+)\s*\}\}", target.get("legendFormat", "")):
                assert label in allowed, f"{where}: legend uses unknown label {label!r}"


# --------------------------------------------------------------------------- Grafana


def test_grafana_provisioning_matches_compose_mounts() -> None:
    datasources = _load_yaml(GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml")
    assert datasources["apiVersion"] == 1
    prom = [ds for ds in datasources["datasources"] if ds["type"] == "prometheus"]
    assert len(prom) == 1 and prom[0]["url"] == "http://prometheus:9090"
    assert prom[0]["uid"] == "prometheus"

    providers = _load_yaml(GRAFANA_DIR / "provisioning" / "dashboards" / "schild.yml")
    assert providers["apiVersion"] == 1
    paths = [p["options"]["path"] for p in providers["providers"]]
    mounts = _compose()["services"]["grafana"]["volumes"]
    dash_mount = next(v for v in mounts if v.startswith("./deploy/grafana/dashboards:"))
    assert dash_mount.split(":")[1] in paths, "dashboard provider path is not the mounted dir"


def test_grafana_dashboard_panels() -> None:
    dashboard = json.loads((GRAFANA_DIR / "dashboards" / "schild-overview.json").read_text("utf-8"))
    assert dashboard["uid"] == "schild-overview"
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    for metric in DASHBOARD_METRICS:
        assert any(metric in e for e in exprs), f"no panel uses {metric}"
    for p in panels:
        assert p["datasource"]["uid"] == "prometheus"
        for t in p.get("targets", []):
            assert t["datasource"]["uid"] == "prometheus"
        grid = p["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
    heatmaps = [p for p in panels if p["type"] == "heatmap"]
    assert any("anpr_detect_latency_seconds_bucket" in t["expr"] for p in heatmaps for t in p["targets"])


# --------------------------------------------------------------------------- Helm


_BLOCK_OPENERS = ("if", "range", "with", "define", "block")


def test_helm_chart_static_structure_without_helm() -> None:
    """Not a helm render: parses Chart/values and checks template delimiters and blocks."""
    chart = _load_yaml(CHART_DIR / "Chart.yaml")
    assert chart["apiVersion"] == "v2" and chart["name"] == "schild"
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(chart["version"]))

    values = _load_yaml(CHART_DIR / "values.yaml")
    assert set(values["services"]) == set(SERVICES)
    for name, svc in values["services"].items():
        assert svc["enabled"] is True, name
        assert "resources" in svc
    gpu = values["services"]["detect"]["gpu"]
    assert gpu["enabled"] is False and gpu["resourceName"] == "nvidia.com/gpu"
    assert values["services"]["detect"]["env"]["ORT_DISABLE_TELEMETRY"] == "1"
    assert values["serviceMonitor"]["enabled"] is False
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["services"]["audit"]["replicaCount"] == 1
    _load_yaml(CHART_DIR / "ci" / "test-values.yaml")

    templates = sorted((CHART_DIR / "templates").iterdir())
    names = {t.name for t in templates}
    assert {
        "_helpers.tpl",
        "configmap.yaml",
        "deployment.yaml",
        "service.yaml",
        "servicemonitor.yaml",
    } <= names
    for tpl in templates:
        text = tpl.read_text(encoding="utf-8")
        assert text.count("{{") == text.count("}}"), f"{tpl.name}: unbalanced braces"
        depth = 0
        stack: list[str] = []
        pos = 0
        while True:
            start = text.find("{{", pos)
            if start < 0:
                break
            end = text.find("}}", start)
            assert end > 0, f"{tpl.name}: '{{{{' at {start} never closed"
            assert text.find("{{", start + 2, end) < 0, f"{tpl.name}: nested '{{{{' at {start}"
            action = text[start + 2 : end].strip("- \n\t")
            word = action.split(None, 1)[0] if action else ""
            if action.startswith("/*"):
                assert action.endswith("*/"), f"{tpl.name}: unterminated comment at {start}"
            elif word in _BLOCK_OPENERS:
                stack.append(word)
                depth += 1
            elif word == "end":
                assert stack, f"{tpl.name}: 'end' without opener at {start}"
                stack.pop()
            pos = end + 2
        assert not stack, f"{tpl.name}: unclosed blocks {stack}"


def _helm_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(tmp_path / var.lower())
    return env


def _helm_template(helm: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(
        [
            helm,
            "template",
            "schild",
            str(CHART_DIR),
            "--namespace",
            "anpr",
            "--kube-version",
            KUBE_VERSION,
            *args,
        ],
        env=_helm_env(tmp_path),
    )


def _check_console(kinds: dict[str, list[dict[str, Any]]]) -> None:
    def component(doc: dict[str, Any]) -> str:
        return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])

    (console,) = [d for d in kinds["Deployment"] if component(d) == "console"]
    (service,) = [d for d in kinds["Service"] if component(d) == "console"]
    kinds["Deployment"].remove(console)
    kinds["Service"].remove(service)
    pod = console["spec"]["template"]["spec"]
    assert service["spec"]["selector"] == console["spec"]["selector"]["matchLabels"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["image"].endswith("anpr-console:0.1.0")
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in container["env"]}
    assert "ANPR_DATABASE_URL" not in env, "the console holds no data"
    upstreams = json.loads(env["ANPR_CONSOLE_UPSTREAMS"]["value"])
    assert upstreams == {name: f"http://schild-{name}:8000" for name in SERVICES}
    assert env["ANPR_CONSOLE_SESSION_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "schild-console-session"
    assert env["ANPR_CONSOLE_OIDC_CLIENT_ID"]["value"] == "schild-console"


def _check_zone_exchange(kinds: dict[str, list[dict[str, Any]]]) -> None:
    """The Job that makes this zone's exchange user and ACLs runs the script compose runs."""
    (job,) = [d for d in kinds.get("Job", []) if d["metadata"]["name"] == "schild-zone-exchange"]
    (script,) = [d for d in kinds["ConfigMap"] if d["metadata"]["name"] == "schild-zone-exchange"]
    kinds["Job"].remove(job)
    kinds["ConfigMap"].remove(script)
    assert script["data"]["zone-exchange.sh"].strip() == EXCHANGE_SCRIPT.read_text().strip()
    assert (CHART_DIR / "files" / "zone-exchange.sh").read_text() == EXCHANGE_SCRIPT.read_text()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert "zone-exchange.sh users 5344=" in container["args"][0]
    assert "zone-exchange.sh acls 5344 5388 5390" in container["args"][0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (share,) = [
        d for d in kinds["Deployment"] if d["metadata"]["labels"]["app.kubernetes.io/component"] == "share"
    ]
    env = {e["name"]: e for e in share["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ANPR_SHARE_EXCHANGE_USERNAME"]["value"] == "zone-5344"
    assert env["ANPR_SHARE_EXCHANGE_PROTOCOL"]["value"] == "SASL_SSL"
    assert env["ANPR_SHARE_EXCHANGE_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "schild-zone-exchange"


def test_helm_lint_and_template_render(tmp_path: Path) -> None:
    helm = _tool("helm")
    ci_values = str(CHART_DIR / "ci" / "test-values.yaml")
    lint = _run(
        [helm, "lint", str(CHART_DIR), "--strict", "--kube-version", KUBE_VERSION, "-f", ci_values],
        env=_helm_env(tmp_path),
    )
    assert lint.returncode == 0, f"helm lint failed:\n{lint.stdout}\n{lint.stderr}"

    res = _helm_template(helm, tmp_path, "-f", ci_values)
    assert res.returncode == 0, res.stderr
    docs = [d for d in yaml.safe_load_all(res.stdout) if d]
    kinds: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    # The operator console is a deployment of its own beside the five services: checked, then set aside.
    _check_console(kinds)
    _check_zone_exchange(kinds)
    assert len(kinds["Deployment"]) == len(SERVICES)
    assert len(kinds["Service"]) == len(SERVICES)
    assert len(kinds["ConfigMap"]) == 1
    assert len(kinds["ServiceMonitor"]) == 1
    (endpoint,) = kinds["ServiceMonitor"][0]["spec"]["endpoints"]
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "schild-metrics", "key": "metrics-token"},
    }, "Prometheus must scrape /metrics with the services' token"
    assert "Secret" not in kinds, "existingSecret given: the chart must not create one"

    cm = kinds["ConfigMap"][0]["data"]
    assert cm["ANPR_ZONE_ID"] == "5344" and cm["ANPR_ENV"] == "production"
    assert cm["ANPR_KAFKA_BOOTSTRAP"] and cm["ANPR_OIDC_JWKS_URL"]
    assert cm["ANPR_HOST"] == "0.0.0.0" and cm["ANPR_PORT"] == "8000"  # noqa: S104
    assert "ANPR_DEV_ISSUER_KEY_PATH" not in cm

    by_component = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in kinds["Deployment"]}
    assert set(by_component) == set(SERVICES)
    services = {s["metadata"]["labels"]["app.kubernetes.io/component"]: s for s in kinds["Service"]}
    for name, dep in by_component.items():
        pod = dep["spec"]["template"]["spec"]
        assert (
            dep["spec"]["selector"]["matchLabels"].items()
            <= dep["spec"]["template"]["metadata"]["labels"].items()
        )
        assert services[name]["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["image"].endswith(f"anpr-{name}:0.1.0")
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["ports"][0]["containerPort"] == 8000
        metrics_token = next(e for e in container["env"] if e["name"] == "ANPR_METRICS_TOKEN")
        metrics_secret = {"name": "schild-metrics", "key": "metrics-token"}
        assert metrics_token["valueFrom"]["secretKeyRef"] == metrics_secret
        db = next(e for e in container["env"] if e["name"] == "ANPR_DATABASE_URL")
        expected_secret = "schild-database-audit" if name == "audit" else "schild-database"
        assert db["valueFrom"]["secretKeyRef"]["name"] == expected_secret
        assert container["envFrom"][0]["configMapRef"]["name"] == kinds["ConfigMap"][0]["metadata"]["name"]
        limits = container.get("resources", {}).get("limits", {})
        assert ("nvidia.com/gpu" in limits) == (name == "detect"), name
    assert by_component["audit"]["spec"]["strategy"]["type"] == "Recreate"

    # Defaults (only the required values given): no GPU, no ServiceMonitor, Secret from url.
    res = _helm_template(
        helm,
        tmp_path,
        "--set",
        "config.env=development",
        "--set",
        "config.zoneId=5344",
        "--set",
        "kafka.bootstrap=kafka:9092",
        "--set",
        "database.url=postgresql+asyncpg://schild:schild@db:5432/schild",
    )
    assert res.returncode == 0, res.stderr
    assert "nvidia.com/gpu" not in res.stdout
    kinds_default = [d["kind"] for d in yaml.safe_load_all(res.stdout) if d]
    assert "ServiceMonitor" not in kinds_default and kinds_default.count("Secret") == 1
    assert "ANPR_METRICS_TOKEN" not in res.stdout, "development without a token: /metrics open"

    # A test cluster's token: the chart's own Secret, read by the pods and the ServiceMonitor.
    res = _helm_template(
        helm,
        tmp_path,
        "-f",
        ci_values,
        "--set",
        "metrics.existingSecret=",
        "--set",
        "metrics.token=test-cluster-scrape-token",
    )
    assert res.returncode == 0, res.stderr
    docs = [d for d in yaml.safe_load_all(res.stdout) if d]
    (token_secret,) = [d for d in docs if d["kind"] == "Secret"]
    assert token_secret["stringData"] == {"metrics-token": "test-cluster-scrape-token"}
    secret_ref = {"name": token_secret["metadata"]["name"], "key": "metrics-token"}
    (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["authorization"]["credentials"] == secret_ref
    for dep in (d for d in docs if d["kind"] == "Deployment"):
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["ANPR_METRICS_TOKEN"]["valueFrom"]["secretKeyRef"] == secret_ref

    # Production without the console's session key is refused, as the console refuses it.
    res = _helm_template(helm, tmp_path, "-f", ci_values, "--set", "console.sessionKey.existingSecret=")
    assert res.returncode != 0 and "console.sessionKey.existingSecret" in res.stderr

    # Production without a scrape token is refused, as the services refuse it.
    res = _helm_template(helm, tmp_path, "-f", ci_values, "--set", "metrics.existingSecret=")
    assert res.returncode != 0 and "metrics.existingSecret" in res.stderr

    # Required values are enforced.
    res = _helm_template(helm, tmp_path)
    assert res.returncode != 0 and "oidc" in res.stderr
    res = _helm_template(
        helm,
        tmp_path,
        "--set",
        "config.env=development",
        "--set",
        "kafka.bootstrap=k:9092",
        "--set",
        "database.url=x",
    )
    assert res.returncode != 0 and "config.zoneId" in res.stderr
