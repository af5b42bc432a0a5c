"""Compose and the helm chart run every service with two database roles (an owner that migrates,
a runtime role that owns nothing), create both, and give the audit service its signing key and
the auditor's anchor file on a volume of its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "schild"
SERVICES = ("ingest", "detect", "match", "audit", "access")
ROLES_SQL = REPO / "deploy" / "postgres" / "schild-roles.sql"


def _user(url: str) -> str:
    found = re.match(r"^postgresql\+asyncpg://([^:@/]+):[^@]*@postgres:5432/schild$", url)
    assert found, url
    return found.group(1)


def test_compose_runs_each_service_as_a_runtime_role_with_a_separate_owner() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in SERVICES:
        env = services[name]["environment"]
        runtime, owner = _user(env["ANPR_DATABASE_URL"]), _user(env["ANPR_DATABASE_OWNER_URL"])
        assert (runtime, owner) == ("schild_app", "schild_owner"), name
    # The database container creates both roles when its volume is made.
    mounts = [str(v) for v in services["postgres"]["volumes"]]
    assert f"./{ROLES_SQL.relative_to(REPO)}:/docker-entrypoint-initdb.d/10-schild-roles.sql:ro" in mounts
    sql = ROLES_SQL.read_text()
    for role in ("schild_owner", "schild_app"):
        assert re.search(rf"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE", sql), role
    assert "GRANT CREATE ON DATABASE schild TO schild_owner" in sql
    # The auditor's anchor file lives on a named volume, apart from the database's.
    audit = services["audit"]
    anchor_dir = os.path.dirname(audit["environment"]["ANPR_AUDIT_ANCHOR_FILE"])
    assert f"audit-anchors:{anchor_dir}" in audit["volumes"]
    assert "audit-anchors" in compose["volumes"]
    assert "/var/lib/anpr/anchors" in (REPO / "services" / "audit" / "Dockerfile").read_text()


def _render(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    helm = (
        os.environ.get("HELM_BIN")
        or shutil.which("helm")
        or shutil.which("helm", path=str(REPO / ".tools/bin"))
    )
    assert helm, "helm is not installed: run `make tools` (scripts/tools.sh)"
    env = dict(os.environ) | {
        v: str(tmp_path / v.lower()) for v in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
    }
    return subprocess.run(
        [helm, "template", "schild", str(CHART_DIR), "--namespace", "anpr", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


def test_the_chart_gives_every_service_the_owner_url_and_the_audit_its_key_and_anchors(
    tmp_path: Path,
) -> None:
    rendered = _render(tmp_path, "-f", str(CHART_DIR / "ci" / "test-values.yaml"))
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs if d["kind"] == "Deployment"
    }
    # The console holds no data of its own (it calls the services with the user's token): no database.
    console = _env(deployments.pop("console")["spec"]["template"]["spec"]["containers"][0])
    assert not {"ANPR_DATABASE_URL", "ANPR_DATABASE_OWNER_URL"} & set(console)
    assert set(deployments) >= {"ingest", "detect", "match", "audit", "access", "share"}
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        env = _env(pod["containers"][0])
        runtime = env["ANPR_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        owner = env["ANPR_DATABASE_OWNER_URL"]["valueFrom"]["secretKeyRef"]
        assert owner["name"] == runtime["name"] and owner["key"] == "database-owner-url", name
        assert owner["optional"] is False, "production needs the owner role"
    audit = deployments["audit"]["spec"]["template"]["spec"]
    env = _env(audit["containers"][0])
    mounts = {m["name"]: m["mountPath"] for m in audit["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in audit["volumes"]}
    assert env["ANPR_AUDIT_ANCHOR_FILE"]["value"].startswith(mounts["anchors"] + "/")
    assert volumes["anchors"]["persistentVolumeClaim"]["claimName"] == "schild-audit-anchors"
    assert env["ANPR_AUDIT_SIGNING_KEY_PATH"]["value"].startswith(mounts["signing-key"] + "/")
    assert volumes["signing-key"]["secret"]["secretName"] == "schild-audit-signing-key"
    [job] = [d for d in docs if d["kind"] == "Job" and d["metadata"]["name"].endswith("database-roles")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert 'GRANT CREATE ON DATABASE :"db" TO :"owner"' in script


def test_the_chart_migrates_as_the_owner_before_the_services_start(tmp_path: Path) -> None:
    rendered = _render(tmp_path, "-f", str(CHART_DIR / "ci" / "test-values.yaml"))
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
    [migrate] = [job for name, job in jobs.items() if name.endswith("-migrate")]
    hooks = migrate["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    # After the roles Job, which makes the owner role it logs in as (weight 0 when unset).
    roles = [job for name, job in jobs.items() if name.endswith("database-roles")]
    roles_weight = int(roles[0]["metadata"]["annotations"].get("helm.sh/hook-weight", "0")) if roles else 0
    assert int(hooks["helm.sh/hook-weight"]) > roles_weight
    pod = migrate["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["anpr", "migrate", "all"]
    assert container["image"].split(":")[0].endswith("anpr-cli")
    env = _env(container)
    owner = env["ANPR_DATABASE_OWNER_URL"]["valueFrom"]["secretKeyRef"]
    runtime = env["ANPR_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert (owner["key"], runtime["key"]) == ("database-owner-url", "database-url")
    assert "optional" not in owner, "no migration without the owner role"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # With the chart's own CloudNativePG cluster, absent before the first install, no hook: a Job of
    # each revision, retrying until the cluster answers; the refused pods become ready after it.
    production = _render(tmp_path, "-f", str(CHART_DIR / "values-production.yaml"))
    assert production.returncode == 0, production.stderr
    [job] = [
        d
        for d in yaml.safe_load_all(production.stdout)
        if d and d["kind"] == "Job" and "-migrate" in d["metadata"]["name"]
    ]
    assert job["metadata"]["name"] == "schild-migrate-r1" and "annotations" not in job["metadata"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["anpr", "migrate", "all"]
    assert job["spec"]["backoffLimit"] >= 8
    # Off, the Job is gone (a zone that runs `anpr migrate all` itself).
    off = _render(
        tmp_path,
        "-f",
        str(CHART_DIR / "ci" / "test-values.yaml"),
        "--set",
        "database.migrations.enabled=false",
    )
    assert off.returncode == 0, off.stderr
    assert not [d for d in yaml.safe_load_all(off.stdout) if d and d["metadata"]["name"].endswith("-migrate")]


def test_compose_migrates_as_the_owner_before_every_service_with_a_database() -> None:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    migrate = services["migrate"]
    assert [*migrate["entrypoint"], *migrate["command"]] == ["anpr", "migrate", "all"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["build"]["dockerfile"] == "deploy/cli/Dockerfile"
    assert (REPO / migrate["build"]["dockerfile"]).is_file()
    env = migrate["environment"]
    assert (_user(env["ANPR_DATABASE_URL"]), _user(env["ANPR_DATABASE_OWNER_URL"])) == (
        "schild_app",
        "schild_owner",
    )
    for name in (*SERVICES, "share"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    dockerfile = (REPO / "deploy" / "cli" / "Dockerfile").read_text()
    assert "--package schild" in dockerfile and 'ENTRYPOINT ["anpr"]' in dockerfile
    assert "USER 10001:10001" in dockerfile
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.MULTILINE):
        assert (REPO / source).exists(), source


def test_the_chart_refuses_production_without_the_audit_key_or_anchor_volume(tmp_path: Path) -> None:
    production = [
        "--set", "config.zoneId=5344", "--set", "kafka.bootstrap=k:9092",
        "--set", "database.existingSecret=db",
        "--set", "oidc.issuer=https://idp", "--set", "oidc.jwksUrl=https://idp/certs",
        "--set", "metrics.existingSecret=m",
    ]  # fmt: skip
    no_key = _render(tmp_path, *production)
    assert no_key.returncode != 0 and "services.audit.signingKey.existingSecret" in no_key.stderr
    no_anchors = _render(tmp_path, *production, "--set", "services.audit.signingKey.existingSecret=k")
    assert no_anchors.returncode != 0 and "services.audit.anchors.existingClaim" in no_anchors.stderr
    roles_without_admin = _render(
        tmp_path, *production, "--set", "services.audit.signingKey.existingSecret=k",
        "--set", "services.audit.anchors.existingClaim=a", "--set", "database.roles.create=true",
    )  # fmt: skip
    assert roles_without_admin.returncode != 0 and "database.roles.adminSecret" in roles_without_admin.stderr
