"""Writes the JSON schemas kubeconform checks the chart's rendered objects against (deploy/schemas/),
from sources fetched once by hand (SOURCES.md says which, and how to fetch them again):

  kubernetes/  the Kubernetes API's kinds the chart renders, cut from kubernetes-validate's
               v1.30.0-local-strict schemas (each kind with only the definitions it reaches)
  crds/        the operators' custom resources: CloudNativePG and the Prometheus operator converted
               from the CRDs their Go modules ship (openAPIV3Schema -> JSON schema, strict as
               kubeconform's openapi2jsonschema makes them); Strimzi's written here from its API
               reference (no registry this project reaches ships Strimzi's CRDs)

Run: python deploy/schemas/build.py --kubernetes-validate WHEEL --cnpg DIR --prometheus-operator DIR
     (the wheel from PyPI; the module directories from `go mod download -json MODULE@VERSION`).
Not part of the tests: they read the files this writes.
"""

from __future__ import annotations

import argparse
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent
KUBE_VERSION = "v1.30.0"
# (file stem in kubernetes-validate, kind): only what the chart renders.
KUBERNETES_KINDS = (
    "configmap-v1",
    "secret-v1",
    "service-v1",
    "persistentvolumeclaim-v1",
    "deployment-apps-v1",
    "job-batch-v1",
    "poddisruptionbudget-policy-v1",
    "networkpolicy-networking-v1",
    "horizontalpodautoscaler-autoscaling-v2",
)
# (CRD file under the module, served version): only the kinds the chart renders.
CRDS = {
    "cnpg": (("config/crd/bases/postgresql.cnpg.io_clusters.yaml", "v1"),),
    "prometheus-operator": (
        ("example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml", "v1"),
        ("example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml", "v1"),
        ("example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml", "v1"),
    ),
}


def _strip_descriptions(node: Any) -> Any:
    """Descriptions are prose: kubeconform reports without them, and they are most of the bytes."""
    if isinstance(node, dict):
        return {
            k: _strip_descriptions(v)
            for k, v in node.items()
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_strip_descriptions(v) for v in node]
    return node


def _write(path: Path, schema: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- Kubernetes


def kubernetes(wheel: Path) -> None:
    prefix = f"kubernetes_validate/kubernetes-json-schema/{KUBE_VERSION}-local-strict/"
    with zipfile.ZipFile(wheel) as archive:
        definitions = json.loads(archive.read(prefix + "_definitions.json"))["$defs"]
        for stem in KUBERNETES_KINDS:
            schema = json.loads(archive.read(f"{prefix}{stem}.json"))
            text = json.dumps(schema).replace('"/api/_definitions.json#/$defs/', '"#/$defs/')
            schema = json.loads(text)
            wanted: dict[str, Any] = {}
            todo = set(re.findall(r'"#/\$defs/([^"]+)"', text))
            while todo:
                name = todo.pop()
                if name in wanted:
                    continue
                wanted[name] = definitions[name]
                todo |= set(re.findall(r'"#/\$defs/([^"]+)"', json.dumps(definitions[name]))) - set(wanted)
            schema.pop("$id", None)
            schema["$defs"] = wanted
            # kubeconform's file name: kind[-group]-version, the group's first label only.
            _write(
                OUT / "kubernetes" / f"{KUBE_VERSION}-standalone-strict" / f"{stem}.json",
                _strip_descriptions(schema),
            )


# --------------------------------------------------------------------------- CRDs


def _strict(node: Any) -> Any:
    """openapi2jsonschema's rules: an object with properties takes no others (unless the CRD keeps
    unknown fields there); `nullable` allows null."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _strict(v) if k != "properties" else {p: _strict(s) for p, s in v.items()} for k, v in node.items()
    }
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def crd(module: Path, relative: str, version: str) -> None:
    document = yaml.safe_load((module / relative).read_text(encoding="utf-8"))
    group = document["spec"]["group"]
    kind = document["spec"]["names"]["kind"]
    (served,) = [v for v in document["spec"]["versions"] if v["name"] == version]
    schema = _strict(_strip_descriptions(served["schema"]["openAPIV3Schema"]))
    schema["properties"]["apiVersion"] = {"type": "string", "enum": [f"{group}/{version}"]}
    schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
    _write(OUT / "crds" / group / f"{kind.lower()}_{version}.json", schema)


# --------------------------------------------------------------------------- Strimzi (written here)

# Written from Strimzi's API reference for kafka.strimzi.io/v1 (Strimzi 0.49 and later): every
# property of the types the chart renders, with its type and allowed values; the Kubernetes types
# these embed (pod templates, resources, network policy peers, secret references) are left open,
# as Strimzi's own CRDs leave most of them.
OPEN: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _obj(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
QUANTITY = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
METADATA = _obj(
    name={"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
    namespace=STRING,
    labels={"type": "object", "additionalProperties": STRING},
    annotations={"type": "object", "additionalProperties": STRING},
)
# The custom resources the operators act on name their Kafka cluster in the label strimzi.io/cluster.
LABELLED_METADATA = {
    **METADATA,
    "properties": {
        **METADATA["properties"],
        "labels": {**METADATA["properties"]["labels"], "required": ["strimzi.io/cluster"]},
    },
    "required": ["labels"],
}
RESOURCES = _obj(
    limits={"type": "object", "additionalProperties": QUANTITY},
    requests={"type": "object", "additionalProperties": QUANTITY},
    claims=_array(OPEN),
)
SECRET_KEY = _obj(("secretName", "certificate", "key"), secretName=STRING, certificate=STRING, key=STRING)
LISTENER_AUTH = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": _enum("tls", "scram-sha-512", "oauth", "custom")},
    "x-kubernetes-preserve-unknown-fields": True,
}
LISTENER = _obj(
    ("name", "port", "type", "tls"),
    name={"type": "string", "pattern": "^[a-z0-9]{1,25}$"},
    port={"type": "integer", "minimum": 9092},
    type=_enum("internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"),
    tls=BOOLEAN,
    authentication=LISTENER_AUTH,
    configuration=OPEN,
    networkPolicyPeers=_array(OPEN),
)
AUTHORIZATION_SIMPLE = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": _enum("simple", "keycloak", "opa", "custom"), "superUsers": _array(STRING)},
    "x-kubernetes-preserve-unknown-fields": True,
}
KAFKA = _obj(
    ("apiVersion", "kind", "metadata", "spec"),
    apiVersion=_enum("kafka.strimzi.io/v1"),
    kind=_enum("Kafka"),
    metadata=METADATA,
    spec=_obj(
        ("kafka",),
        kafka=_obj(
            ("listeners",),
            version=STRING,
            metadataVersion=STRING,
            image=STRING,
            listeners=_array(LISTENER, minItems=1),
            config=OPEN,
            authorization=AUTHORIZATION_SIMPLE,
            rack=_obj(("topologyKey",), topologyKey=STRING),
            brokerRackInitImage=STRING,
            livenessProbe=OPEN,
            readinessProbe=OPEN,
            jvmOptions=OPEN,
            jmxOptions=OPEN,
            resources=RESOURCES,
            metricsConfig=OPEN,
            logging=OPEN,
            template=OPEN,
            tieredStorage=OPEN,
            quotas=OPEN,
        ),
        entityOperator=_obj(
            topicOperator=_obj(
                watchedNamespace=STRING,
                image=STRING,
                reconciliationIntervalMs={"type": "integer", "minimum": 0},
                resources=RESOURCES,
                livenessProbe=OPEN,
                readinessProbe=OPEN,
                startupProbe=OPEN,
                jvmOptions=OPEN,
                logging=OPEN,
            ),
            userOperator=_obj(
                watchedNamespace=STRING,
                image=STRING,
                reconciliationIntervalMs={"type": "integer", "minimum": 0},
                secretPrefix=STRING,
                resources=RESOURCES,
                livenessProbe=OPEN,
                readinessProbe=OPEN,
                jvmOptions=OPEN,
                logging=OPEN,
            ),
            tlsSidecar=OPEN,
            template=OPEN,
        ),
        clusterCa=OPEN,
        clientsCa=OPEN,
        cruiseControl=OPEN,
        kafkaExporter=OPEN,
        maintenanceTimeWindows=_array(STRING),
    ),
    status=OPEN,
)
VOLUME = _obj(
    ("type",),
    id={"type": "integer", "minimum": 0},
    type=_enum("ephemeral", "persistent-claim"),
    size=STRING,
    sizeLimit=STRING,
    kraftMetadata=_enum("shared"),
    deleteClaim=BOOLEAN,
    selector={"type": "object", "additionalProperties": STRING},
    overrides=_array(OPEN),
    **{"class": STRING},
)
KAFKA_NODE_POOL = _obj(
    ("apiVersion", "kind", "metadata", "spec"),
    apiVersion=_enum("kafka.strimzi.io/v1"),
    kind=_enum("KafkaNodePool"),
    metadata=LABELLED_METADATA,
    spec=_obj(
        ("replicas", "storage", "roles"),
        replicas={"type": "integer", "minimum": 0},
        storage=_obj(
            ("type",),
            type=_enum("jbod", "ephemeral", "persistent-claim"),
            volumes=_array(VOLUME, minItems=1),
            size=STRING,
            deleteClaim=BOOLEAN,
            **{"class": STRING},
        ),
        roles=_array(_enum("controller", "broker"), minItems=1),
        resources=RESOURCES,
        jvmOptions=OPEN,
        template=OPEN,
    ),
    status=OPEN,
)
TOPIC_NAME = {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"}
KAFKA_TOPIC = _obj(
    ("apiVersion", "kind", "metadata", "spec"),
    apiVersion=_enum("kafka.strimzi.io/v1"),
    kind=_enum("KafkaTopic"),
    metadata=LABELLED_METADATA,
    spec=_obj(
        topicName=TOPIC_NAME,
        partitions={"type": "integer", "minimum": 1},
        replicas={"type": "integer", "minimum": 1, "maximum": 32767},
        # Kafka's topic configs: strings, numbers or booleans, by name.
        config={
            "type": "object",
            "additionalProperties": {"type": ["string", "integer", "boolean", "number"]},
        },
    ),
    status=OPEN,
)
ACL_OPERATIONS = (
    "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "AlterConfigs",
    "DescribeConfigs", "IdempotentWrite", "All",
)  # fmt: skip
ACL = _obj(
    ("resource", "operations"),
    type=_enum("allow", "deny"),
    resource=_obj(
        ("type",),
        type=_enum("topic", "group", "cluster", "transactionalId"),
        name=STRING,
        patternType=_enum("literal", "prefix"),
    ),
    host=STRING,
    operations=_array(_enum(*ACL_OPERATIONS), minItems=1),
)
KAFKA_USER = _obj(
    ("apiVersion", "kind", "metadata", "spec"),
    apiVersion=_enum("kafka.strimzi.io/v1"),
    kind=_enum("KafkaUser"),
    metadata=LABELLED_METADATA,
    spec=_obj(
        authentication=_obj(
            ("type",),
            type=_enum("tls", "tls-external", "scram-sha-512"),
            password=_obj(
                ("valueFrom",),
                valueFrom=_obj(
                    ("secretKeyRef",), secretKeyRef=_obj(("key",), name=STRING, key=STRING, optional=BOOLEAN)
                ),
            ),
        ),
        authorization=_obj(("type", "acls"), type=_enum("simple"), acls=_array(ACL)),
        quotas=_obj(
            producerByteRate={"type": "integer", "minimum": 0},
            consumerByteRate={"type": "integer", "minimum": 0},
            requestPercentage={"type": "integer", "minimum": 0},
            controllerMutationRate={"type": "number", "minimum": 0},
        ),
        template=OPEN,
    ),
    status=OPEN,
)


def strimzi() -> None:
    for kind, schema in (
        ("kafka", KAFKA),
        ("kafkanodepool", KAFKA_NODE_POOL),
        ("kafkatopic", KAFKA_TOPIC),
        ("kafkauser", KAFKA_USER),
    ):
        _write(OUT / "crds" / "kafka.strimzi.io" / f"{kind}_v1.json", schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubernetes-validate", type=Path, required=True)
    parser.add_argument("--cnpg", type=Path, required=True)
    parser.add_argument("--prometheus-operator", type=Path, required=True)
    args = parser.parse_args()
    kubernetes(args.kubernetes_validate)
    for name, module in (
        ("cnpg", args.cnpg),
        ("prometheus-operator", args.prometheus_operator),
    ):
        for relative, version in CRDS[name]:
            crd(module, relative, version)
    strimzi()


if __name__ == "__main__":
    main()
