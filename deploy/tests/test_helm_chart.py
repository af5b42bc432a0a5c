"""The Helm chart (helm/schild) as a zone installs it: `helm lint` and `helm template` for the default,
production and GPU values, every rendered object validated by kubeconform against the schemas
bundled in deploy/schemas (strict, nothing fetched), the audit pod's environment accepted by
AuditSettings under ANPR_ENV=production, and what the chart promises a zone: a Kafka login and ACLs
per service, the architecture's topics, the two database roles, locked-down pods, a budget and a
network policy for every pod, detect scaling on its lag, the alert rules. helm and kubeconform come
from `make tools` / `make test` (.tools/bin on PATH): a missing tool fails, it never skips."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from anpr_audit.adapters.anchor_topic import TOPIC as ANCHOR_TOPIC
from anpr_audit.adapters.anchor_topic import TOPIC_CONFIG as ANCHOR_TOPIC_CONFIG
from anpr_audit.settings import AuditSettings
from anpr_core.bus.kafka import MAX_MESSAGE_BYTES
from anpr_core.events import Topics

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "schild"
SCHEMAS = REPO / "deploy" / "schemas"
KUBE_VERSION = "1.30.0"
SERVICES = ("ingest", "detect", "match", "audit", "access", "share")
DEFAULT_SETS = (
    "config.env=development",
    "config.zoneId=5344",
    "kafka.bootstrap=kafka:9092",
    "database.url=postgresql+asyncpg://schild_app:pw@db:5432/schild",
    "database.ownerUrl=postgresql+asyncpg://schild_owner:pw@db:5432/schild",
)
PRODUCTION = ("-f", str(CHART / "values-production.yaml"))
GPU = (*PRODUCTION, "-f", str(CHART / "values-gpu.yaml"))
RENDERS: dict[str, tuple[str, ...]] = {
    "default": tuple(arg for value in DEFAULT_SETS for arg in ("--set", value)),
    "production": PRODUCTION,
    "gpu": GPU,
}
Doc = dict[str, Any]


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not on PATH: `make tools` (scripts/tools.sh) installs it into .tools/bin"
    return path


def _helm(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **{v: str(tmp / v.lower()) for v in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")},
    }
    return subprocess.run(  # noqa: S603
        [_tool("helm"), *args], capture_output=True, text=True, env=env, check=False, timeout=120
    )


@cache
def _render(name: str) -> str:
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"schild-helm-{os.getpid()}"  # noqa: S108
    result = _helm(
        tmp,
        "template",
        "schild",
        str(CHART),
        "--namespace",
        "anpr",
        "--kube-version",
        KUBE_VERSION,
        *RENDERS[name],
    )
    shutil.rmtree(tmp, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _docs(name: str) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(_render(name)) if doc]


def _kinds(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def _component(doc: Doc) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def _deployments(docs: list[Doc]) -> dict[str, Doc]:
    return {_component(d): d for d in _kinds(docs, "Deployment")}


def _kubeconform(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [
            _tool("kubeconform"),
            "-strict",
            "-summary",
            "-output",
            "text",
            "-kubernetes-version",
            KUBE_VERSION,
            # Only the bundled schemas: a kind without one is an error (never fetched, never skipped).
            "-schema-location",
            f"{SCHEMAS}/kubernetes/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}"
            "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-schema-location",
            str(SCHEMAS / "crds") + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


# ----------------------------------------------------------------------------------- helm and kubeconform


@pytest.mark.parametrize("render", list(RENDERS))
def test_helm_lint_passes_strict(render: str, tmp_path: Path) -> None:
    result = _helm(tmp_path, "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION, *RENDERS[render])
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("render", list(RENDERS))
def test_every_rendered_object_validates_against_the_bundled_schemas(render: str, tmp_path: Path) -> None:
    rendered = tmp_path / f"{render}.yaml"
    rendered.write_text(_render(render), encoding="utf-8")
    result = _kubeconform(rendered)
    count = len(_docs(render))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"{count} resources found in 1 file - Valid: {count}, Invalid: 0, Errors: 0, Skipped: 0"
        in result.stdout
    )


def test_production_renders_the_operators_resources_and_every_safeguard() -> None:
    kinds = {doc["kind"] for doc in _docs("production")}
    assert kinds >= {
        "Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster", "Deployment", "Service", "ConfigMap",
        "PodDisruptionBudget", "NetworkPolicy", "HorizontalPodAutoscaler", "ServiceMonitor", "PodMonitor",
        "PrometheusRule",
    }  # fmt: skip


def test_kubeconform_refuses_what_the_schemas_do_not_allow(tmp_path: Path) -> None:
    """The check bites: a misspelled field of a Deployment, a bad value of a Strimzi resource and a
    kind with no bundled schema each fail."""
    docs = _docs("production")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    misspelled = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    topic = next(d for d in docs if d["kind"] == "KafkaTopic")
    bad_topic = {**topic, "spec": {**topic["spec"], "partitions": "twelve"}}
    unknown = {"apiVersion": "example.invalid/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    for doc, complaint in (
        (misspelled, "replica"),
        (bad_topic, "partitions"),
        (unknown, "could not find schema"),
    ):
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        result = _kubeconform(path)
        assert result.returncode != 0 and complaint in result.stdout, result.stdout


# ----------------------------------------------------------------------------------- audit in production


def _pod_environment(docs: list[Doc], service: str, secrets: Mapping[tuple[str, str], str]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: the ConfigMaps of envFrom, then env,
    each secretKeyRef from `secrets`, $(VAR) references expanded."""
    pod = _deployments(docs)[service]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config_maps = {d["metadata"]["name"]: d["data"] for d in _kinds(docs, "ConfigMap")}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), entry["value"])
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        if (ref["name"], ref["key"]) in secrets:
            env[entry["name"]] = secrets[ref["name"], ref["key"]]
        else:
            assert ref.get("optional"), f"{service}: no value for Secret {ref['name']}/{ref['key']}"
    return env


def _mounted_secret(docs: list[Doc], service: str, path: str) -> tuple[str, str]:
    """(Secret, key) of the file at `path` in the service's container."""
    pod = _deployments(docs)[service]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in pod["containers"][0]["volumeMounts"]:
        if path.startswith(mount["mountPath"].rstrip("/") + "/"):
            secret = volumes[mount["name"]]["secret"]
            assert mount.get("readOnly") is True
            return str(secret["secretName"]), path.removeprefix(mount["mountPath"].rstrip("/") + "/")
    raise AssertionError(f"{path} is on no mounted volume")


PRODUCTION_SECRETS = {
    ("schild-database", "database-url"): "postgresql+asyncpg://schild_app:app-pw@schild-db-rw:5432/schild",
    (
        "schild-database",
        "database-owner-url",
    ): "postgresql+asyncpg://schild_owner:owner-pw@schild-db-rw:5432/schild",
    ("schild-metrics", "metrics-token"): "a-scrape-token-of-the-zone",
    ("schild-audit", "password"): "strimzi-made-this",
}


@pytest.fixture
def audit_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name in list(os.environ):
        if name.startswith("ANPR_"):
            monkeypatch.delenv(name)
    yield _pod_environment(_docs("production"), "audit", PRODUCTION_SECRETS)


def test_the_audit_pod_environment_validates_in_production(
    audit_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _docs("production")
    env = audit_environment
    assert env["ANPR_ENV"] == "production"
    # The signing key is the PEM of the Secret named in the values, mounted read-only.
    key_path = env["ANPR_AUDIT_SIGNING_KEY_PATH"]
    assert _mounted_secret(docs, "audit", key_path) == ("schild-audit-signing-key", "signing-key.pem")
    assert _mounted_secret(docs, "audit", env["ANPR_KAFKA_CA_FILE"]) == (
        "schild-kafka-cluster-ca-cert",
        "ca.crt",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = AuditSettings()
    assert settings.env.value == "production"
    assert settings.audit_signing_key_path == Path(key_path)
    assert settings.kafka_bootstrap == "schild-kafka-kafka-bootstrap:9093"
    security = settings.kafka_security()
    assert security is not None and (security.username, security.protocol) == ("schild-audit", "SASL_SSL")
    assert settings.oidc_issuer and settings.oidc_jwks_url and settings.metrics_token

    # The same environment without the key's path is refused, as the service refuses to start.
    monkeypatch.delenv("ANPR_AUDIT_SIGNING_KEY_PATH")
    with pytest.raises(ValidationError, match="ANPR_AUDIT_SIGNING_KEY_PATH"):
        AuditSettings()


def test_every_service_but_the_console_gets_its_production_settings_from_the_chart() -> None:
    """Each service's pod environment names everything production asks of CoreSettings."""
    docs = _docs("production")
    for service in SERVICES:
        secrets = {
            **PRODUCTION_SECRETS,
            (f"schild-{service}", "password"): "pw",
            ("zone-5344", "password"): "pw",
        }
        env = _pod_environment(docs, service, secrets)
        assert env["ANPR_KAFKA_USERNAME"] == f"schild-{service}"
        assert env["ANPR_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert {
            "ANPR_DATABASE_URL",
            "ANPR_DATABASE_OWNER_URL",
            "ANPR_METRICS_TOKEN",
            "ANPR_OIDC_ISSUER",
        } <= set(env)


# ----------------------------------------------------------------------------------- Kafka


def test_the_topics_are_the_platforms_with_the_architectures_retention() -> None:
    docs = _docs("production")
    topics = {d["spec"]["topicName"]: d["spec"] for d in _kinds(docs, "KafkaTopic")}
    platform = Topics()
    assert set(topics) == {*platform.all(), ANCHOR_TOPIC}
    compacted = {name for name, spec in topics.items() if spec["config"]["cleanup.policy"] == "compact"}
    assert compacted == platform.compacted()
    hour, day = 3_600_000, 86_400_000
    retention = {name: spec["config"].get("retention.ms") for name, spec in topics.items()}
    assert retention[platform.frames] <= 12 * hour, "frames are personal data: hours"
    for name in (platform.reads, platform.passages, platform.hits, platform.audit, platform.shared_reads):
        assert day <= retention[name] <= 14 * day, f"{name}: days"
    assert 7 * day <= retention[platform.dlq] <= 8 * 7 * day, "dead letters: weeks"
    anchors = topics[ANCHOR_TOPIC]
    assert anchors["partitions"] == 1
    assert {
        k: str(v) for k, v in anchors["config"].items() if k in ANCHOR_TOPIC_CONFIG
    } == ANCHOR_TOPIC_CONFIG
    for name, spec in topics.items():
        assert spec["config"]["max.message.bytes"] == MAX_MESSAGE_BYTES, name
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == 2, name
    (hpa,) = _kinds(docs, "HorizontalPodAutoscaler")
    assert topics[platform.frames]["partitions"] >= hpa["spec"]["maxReplicas"], "an idle detect replica"
    (kafka,) = _kinds(docs, "Kafka")
    assert kafka["spec"]["kafka"]["config"]["message.max.bytes"] == MAX_MESSAGE_BYTES
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    (pool,) = _kinds(docs, "KafkaNodePool")
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"], "KRaft: no ZooKeeper"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]


def _acls(user: Doc) -> dict[tuple[str, str, str], set[str]]:
    """(resource type, name, pattern) -> the operations allowed on it."""
    acls: dict[tuple[str, str, str], set[str]] = {}
    for acl in user["spec"]["authorization"]["acls"]:
        resource = acl["resource"]
        key = (resource["type"], resource["name"], resource.get("patternType", "literal"))
        acls.setdefault(key, set()).update(acl["operations"])
    return acls


def test_each_service_logs_in_as_its_own_user_allowed_only_its_topics_and_groups() -> None:
    docs = _docs("production")
    users = {d["metadata"]["name"]: d for d in _kinds(docs, "KafkaUser")}
    platform = Topics()
    reads = {
        "ingest": set(),
        "detect": {platform.frames, platform.reads},
        "match": {platform.reads, platform.hotlist, platform.shared_hotlist},
        "audit": {platform.audit, ANCHOR_TOPIC},
        "access": {platform.reads, platform.shared_reads, platform.passages, platform.hits},
        "share": {platform.reads, platform.hotlist, platform.cameras},
    }
    deployments = _deployments(docs)
    for service in SERVICES:
        user = users[f"schild-{service}"]
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        acls = _acls(user)
        readable = {name for (kind, name, _), ops in acls.items() if kind == "topic" and "Read" in ops}
        assert readable == reads[service], service
        writable = {name for (kind, name, _), ops in acls.items() if kind == "topic" and "Write" in ops}
        assert platform.dlq in writable, service
        assert (platform.audit in writable) == (service != "audit"), service
        groups = {key: ops for key, ops in acls.items() if key[0] == "group"}
        assert groups == {("group", service, "prefix"): {"Read", "Describe"}}, service
        every_op = set().union(*acls.values())
        assert not every_op & {"All", "Alter", "Delete", "Create", "ClusterAction", "AlterConfigs"}, service
        assert {kind for kind, _, _ in acls} == {"topic", "group"}, f"{service}: no cluster rights"
        env = {e["name"]: e for e in deployments[service]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["ANPR_KAFKA_USERNAME"]["value"] == user["metadata"]["name"]
        assert env["ANPR_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": f"schild-{service}",
            "key": "password",
        }
    console = deployments["console"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "ANPR_KAFKA_SECURITY_PROTOCOL", "value": "PLAINTEXT"} in console["env"], (
        "no bus, no login"
    )


def test_a_zone_with_its_own_brokers_names_the_logins_secrets(tmp_path: Path) -> None:
    """Without Strimzi: SASL to the zone's brokers, each service's password from the Secret the
    values name (by prefix, or one service's own), the brokers' CA from caSecret; PLAINTEXT (the
    default) asks for no login."""
    sets = (
        *DEFAULT_SETS,
        "kafka.security.protocol=SASL_SSL",
        "kafka.security.userPrefix=zone5344-",
        "kafka.security.caSecret=zone-kafka-ca",
        "services.match.kafka.existingSecret=match-login",
        "services.match.kafka.username=matcher",
    )
    result = _helm(tmp_path, "template", "schild", str(CHART), "--kube-version", KUBE_VERSION,
                   *(arg for value in sets for arg in ("--set", value)))  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert not _kinds(docs, "KafkaUser") and not _kinds(docs, "Kafka")
    assert _kinds(docs, "ConfigMap")[0]["data"]["ANPR_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    logins = {}
    for service, dep in _deployments(docs).items():
        pod = dep["spec"]["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        if service == "console":
            assert "ANPR_KAFKA_PASSWORD" not in env
            continue
        logins[service] = (
            env["ANPR_KAFKA_USERNAME"]["value"],
            env["ANPR_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"],
        )
        assert {"name": "kafka-ca", "secret": {"secretName": "zone-kafka-ca"}} in pod["volumes"]
    assert logins.pop("match") == ("matcher", "match-login")
    assert logins == {
        service: (f"zone5344-{service}", f"zone5344-{service}") for service in SERVICES if service != "match"
    }
    assert "ANPR_KAFKA_USERNAME" not in _render("default") and "ANPR_KAFKA_SECURITY_PROTOCOL" not in _render(
        "default"
    )


def test_each_neighbour_zone_reads_only_what_this_zone_shares_with_it() -> None:
    """As deploy/kafka/zone-exchange.sh makes them in compose (`acls 5344 5388`)."""
    users = {d["metadata"]["name"]: d for d in _kinds(_docs("production"), "KafkaUser")}
    assert _acls(users["zone-5388"]) == {
        ("topic", "zone.5344.5388.", "prefix"): {"Read", "Describe"},
        ("topic", "zone.5388.", "prefix"): {"Write", "Create", "Describe"},
        ("group", "zone.5388.", "prefix"): {"Read", "Describe"},
    }
    assert _acls(users["zone-5344"]) == {
        ("topic", "zone.5344.", "prefix"): {"Write", "Create", "Describe"},
        ("group", "zone.5344.", "prefix"): {"Read", "Describe"},
        ("topic", "zone.5388.5344.", "prefix"): {"Read", "Describe"},
    }
    (kafka,) = _kinds(_docs("production"), "Kafka")
    listeners = {item["name"]: item for item in kafka["spec"]["kafka"]["listeners"]}
    assert all(
        item["tls"] and item["authentication"]["type"] == "scram-sha-512" for item in listeners.values()
    )
    assert (
        set(listeners) == {"tls", "exchange"} and kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    )


# ----------------------------------------------------------------------------------- PostgreSQL


def test_postgresql_has_the_owner_and_the_runtime_role() -> None:
    docs = _docs("production")
    (cluster,) = _kinds(docs, "Cluster")
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert (initdb["database"], initdb["owner"], initdb["secret"]["name"]) == (
        "schild",
        "schild_owner",
        "schild-db-owner",
    )
    (runtime,) = cluster["spec"]["managed"]["roles"]
    assert (runtime["name"], runtime["passwordSecret"]["name"]) == ("schild_app", "schild-db-app")
    assert runtime["login"] is True and not runtime["superuser"] and not runtime["createrole"]
    assert cluster["spec"]["enableSuperuserAccess"] is False and cluster["spec"]["instances"] == 3


# ----------------------------------------------------------------------------------- pods


@pytest.mark.parametrize("render", list(RENDERS))
def test_every_pod_is_locked_down_probed_and_sized(render: str) -> None:
    docs = _docs(render)
    pods = [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in _kinds(docs, "Deployment")]
    for name, pod in pods:
        context = pod.get("securityContext", {})
        assert context.get("runAsNonRoot") is True, name
        assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, name
        assert pod.get("automountServiceAccountToken") is False, name
        writable = {
            v["name"] for v in pod.get("volumes", []) if "emptyDir" in v or "persistentVolumeClaim" in v
        }
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            for mount in container.get("volumeMounts", []):
                assert mount.get("readOnly") or mount["name"] in writable, f"{name}: {mount['name']}"
    for name, dep in _deployments(docs).items():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(container) or name == "console", (
            name
        )
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name
    gpu = [name for name, dep in _deployments(docs).items() if "nvidia.com/gpu" in str(dep)]
    assert gpu == (["detect"] if render == "gpu" else [])


def test_every_deployment_has_a_disruption_budget_and_the_network_policy_covers_it() -> None:
    docs = _docs("production")
    budgets = {_component(d): d for d in _kinds(docs, "PodDisruptionBudget")}
    (policy,) = _kinds(docs, "NetworkPolicy")
    for name, dep in _deployments(docs).items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
        assert budgets[name]["spec"]["maxUnavailable"] == 1
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), name
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    ports = {port["port"] for rule in spec["egress"] for port in rule["ports"]}
    assert ports == {53, 9092, 9093, 9094, 5432, 8000, 443}, (
        "Kafka, PostgreSQL, DNS, the services, HTTPS only"
    )
    assert [p["port"] for rule in spec["ingress"] for p in rule["ports"]] == ["http"]


def test_detect_scales_on_its_consumer_lag() -> None:
    docs = _docs("production")
    (hpa,) = _kinds(docs, "HorizontalPodAutoscaler")
    detect = _deployments(docs)["detect"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": detect["metadata"]["name"],
    }
    assert "replicas" not in detect["spec"], "the HPA owns detect's replica count"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["selector"]["matchLabels"] == {
        "consumergroup": "detect",
        "topic": Topics().frames,
    }
    # The group detect's frames worker joins (anpr_detect.entrypoints.consumers).
    consumers = (REPO / "services/detect/src/anpr_detect/entrypoints/consumers.py").read_text(
        encoding="utf-8"
    )
    assert re.search(r'topics\.frames,\s*"detect",', consumers)
    # Prometheus scrapes the metric from Strimzi's Kafka Exporter.
    (kafka,) = _kinds(docs, "Kafka")
    assert "kafkaExporter" in kafka["spec"]
    (exporter,) = _kinds(docs, "PodMonitor")
    assert exporter["spec"]["selector"]["matchLabels"] == {"strimzi.io/name": "schild-kafka-kafka-exporter"}


def test_the_prometheus_rule_carries_the_alert_rules() -> None:
    alerts = REPO / "deploy" / "prometheus" / "alerts.yml"
    assert (CHART / "files" / "alerts.yml").read_text(encoding="utf-8") == alerts.read_text(
        encoding="utf-8"
    ), "copy deploy/prometheus/alerts.yml to helm/schild/files/alerts.yml"
    (rule,) = _kinds(_docs("production"), "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(alerts.read_text(encoding="utf-8"))["groups"]


# ----------------------------------------------------------------------------------- compose and the chart


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    return compose


def _compose_env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (_compose()["services"][service].get("environment") or {}).items()}


def test_compose_and_the_chart_have_the_same_database_roles() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["database"]
    (cluster,) = _kinds(_docs("production"), "Cluster")
    for service in SERVICES:
        env = _compose_env(service)
        runtime, owner = (
            re.match(r"postgresql\+asyncpg://([^:]+):[^@]+@[^/]+/(\w+)$", env[v])
            for v in ("ANPR_DATABASE_URL", "ANPR_DATABASE_OWNER_URL")
        )
        assert runtime and owner, service
        assert (runtime[1], owner[1], runtime[2]) == (
            values["runtimeRole"],
            values["ownerRole"],
            values["name"],
        )
    assert cluster["spec"]["bootstrap"]["initdb"]["owner"] == values["ownerRole"]
    assert [role["name"] for role in cluster["spec"]["managed"]["roles"]] == [values["runtimeRole"]]
    roles_sql = (REPO / "deploy" / "postgres" / "schild-roles.sql").read_text(encoding="utf-8")
    assert set(re.findall(r"CREATE ROLE (\w+)", roles_sql)) == {values["runtimeRole"], values["ownerRole"]}


def test_the_chart_gives_each_service_what_compose_gives_it() -> None:
    """Every setting compose gives a service (its secrets among them: database URLs, the metrics
    token, the exchange's login, the anchor file) the production chart gives it too, from a Secret
    where it is one; only the development token issuer is compose's alone."""
    docs = _docs("production")
    deployments = _deployments(docs)
    config_map = _kinds(docs, "ConfigMap")[0]["data"]
    for service in (*SERVICES, "console"):
        container = deployments[service]["spec"]["template"]["spec"]["containers"][0]
        chart = set(config_map) | {e["name"] for e in container["env"]}
        compose = {name for name in _compose_env(service) if name.startswith("ANPR_")}
        assert compose - {"ANPR_DEV_ISSUER_KEY_PATH"} <= chart, f"{service}: {compose - chart}"
        from_secrets = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
        assert {"ANPR_METRICS_TOKEN"} <= from_secrets, service
        if service != "console":
            assert {"ANPR_DATABASE_URL", "ANPR_DATABASE_OWNER_URL", "ANPR_KAFKA_PASSWORD"} <= from_secrets
    share = {e["name"]: e for e in deployments["share"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (
        share["ANPR_SHARE_EXCHANGE_USERNAME"]["value"]
        == _compose_env("share")["ANPR_SHARE_EXCHANGE_USERNAME"]
    )
    assert "secretKeyRef" in share["ANPR_SHARE_EXCHANGE_PASSWORD"]["valueFrom"]


def test_compose_and_the_chart_have_the_same_kafka_settings() -> None:
    """Compose's broker leaves topic creation to the services (KafkaBus: 8 MiB records, the
    hotlist and camera register compacted), as the chart's topics are made; its exchange takes
    SCRAM-SHA-512 logins, as the chart's listeners do, and its ACL job names the neighbour the
    production values name."""
    docs = _docs("production")
    broker = _compose()["services"]["kafka"]["environment"]
    (kafka,) = _kinds(docs, "Kafka")
    assert str(broker["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    assert broker["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert {item["authentication"]["type"] for item in kafka["spec"]["kafka"]["listeners"]} == {
        "scram-sha-512"
    }
    assert _kinds(docs, "ConfigMap")[0]["data"]["ANPR_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    command = " ".join(_compose()["services"]["kafka-exchange"]["command"])
    acls = re.search(r"zone-exchange\.sh acls (\d+) ((?:\d+ ?)+)", command)
    assert acls, command
    values = yaml.safe_load((CHART / "values-production.yaml").read_text(encoding="utf-8"))
    assert acls[1] == values["config"]["zoneId"] == _compose_env("ingest")["ANPR_ZONE_ID"]
    assert acls[2].split() == values["kafka"]["strimzi"]["partnerZones"]
    topics = {d["spec"]["topicName"]: d["spec"]["config"] for d in _kinds(docs, "KafkaTopic")}
    assert {
        name for name, config in topics.items() if config["cleanup.policy"] == "compact"
    } == Topics().compacted()
