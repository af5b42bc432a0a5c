"""Test infrastructure: one real Kafka broker and one PostgreSQL server per test session.

Where they come from, in order:
  1. ANPR_KAFKA_BOOTSTRAP / ANPR_DATABASE_URL from the environment;
  2. testcontainers, where a Docker engine answers;
  3. scripts/infra.sh, which starts both on loopback (and is stopped again if this session started it).
Each test gets fresh topics (a unique prefix) and, when it asks for one, a fresh database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from anpr_core.auth import DevIssuer, Role

# A skip fails the run unless it names an accelerator (schild.no_silent_skips).
pytest_plugins = ("schild.no_silent_skips",)

REPO = Path(__file__).resolve().parent
INFRA = REPO / "scripts" / "infra.sh"


@dataclass
class Infrastructure:
    kafka_bootstrap: str
    database_url: str
    source: str
    _cleanup: list[object] = field(default_factory=list)


def _docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _from_testcontainers() -> Infrastructure:  # pragma: no cover - needs a Docker engine
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.postgres import PostgresContainer

    postgres = PostgresContainer(
        "postgres:16",
        username="schild",
        password="schild",  # noqa: S106 - throwaway test server
        dbname="schild",
    )
    postgres.start()
    kafka = (
        DockerContainer("apache/kafka:4.1.0")
        .with_bind_ports(9092, 19092)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://127.0.0.1:19092")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_MESSAGE_MAX_BYTES", "8388608")
    )
    kafka.start()
    wait_for_logs(kafka, "Kafka Server started", timeout=120)
    host = postgres.get_container_host_ip()
    port = postgres.get_exposed_port(5432)
    infra = Infrastructure(
        kafka_bootstrap="127.0.0.1:19092",
        database_url=f"postgresql+asyncpg://schild:schild@{host}:{port}/schild",
        source="testcontainers",
    )
    infra._cleanup.extend([kafka, postgres])
    return infra


def _from_infra_script() -> tuple[Infrastructure, bool]:
    already_running = subprocess.run([str(INFRA), "status"], capture_output=True).returncode == 0
    result = subprocess.run([str(INFRA), "up"], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/infra.sh up failed:\n{result.stderr[-4000:]}")
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in result.stdout.splitlines()
        if line.startswith("export ")
    )
    infra = Infrastructure(
        kafka_bootstrap=exports["ANPR_KAFKA_BOOTSTRAP"],
        database_url=exports["ANPR_DATABASE_URL"],
        source="scripts/infra.sh",
    )
    return infra, not already_running


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    kafka = os.environ.get("ANPR_KAFKA_BOOTSTRAP")
    database = os.environ.get("ANPR_DATABASE_URL")
    if kafka and database:
        yield Infrastructure(kafka, database, "environment")
        return
    if _docker_works():  # pragma: no cover - no Docker engine on the CI machines
        infra = _from_testcontainers()
        try:
            yield infra
        finally:
            for container in infra._cleanup:
                with contextlib.suppress(Exception):
                    container.stop()  # type: ignore[attr-defined]
        return
    infra, started = _from_infra_script()
    try:
        yield infra
    finally:
        if started and os.environ.get("SCHILD_KEEP_INFRA") != "1":
            subprocess.run([str(INFRA), "down"], capture_output=True)


@pytest.fixture
def no_anpr_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test alone: no ANPR_* variable of the shell or of CI leaks into them.

    Use it for a whole module with `pytestmark = pytest.mark.usefixtures("no_anpr_environment")`.
    """
    for name in list(os.environ):
        if name.startswith("ANPR_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def kafka_bootstrap(infrastructure: Infrastructure) -> str:
    return infrastructure.kafka_bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """Fresh topics for each test on the shared broker."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def database_url(infrastructure: Infrastructure) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import asyncpg

    admin_url = infrastructure.database_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = infrastructure.database_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# The two roles of a deployment (scripts/infra.sh, compose and helm create the same ones).
OWNER_ROLE = "schild_owner"
APP_ROLE = "schild_app"


@dataclass(frozen=True)
class DatabaseRoles:
    """A fresh database as production runs it: `owner_url` migrates (owns the tables), `app_url`
    serves (owns nothing), `admin_url` is the fixture's own role, which created the database."""

    owner_url: str
    app_url: str
    admin_url: str


@pytest.fixture
async def database_roles(database_url: str) -> DatabaseRoles:
    """The fresh database of `database_url`, with the owner and runtime roles set up on it."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for role in (OWNER_ROLE, APP_ROLE):
            # Roles are cluster-wide and other sessions may create them at the same moment.
            await admin.execute(
                f"""DO $$ BEGIN
                      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                        CREATE ROLE {role} LOGIN PASSWORD '{role}';
                      END IF;
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                    END $$"""  # noqa: S608 - the module's constant role names
            )
        await admin.execute(f'GRANT CREATE ON DATABASE "{url.database}" TO {OWNER_ROLE}')
    finally:
        await admin.close()

    def as_role(role: str) -> str:
        return url.set(username=role, password=role).render_as_string(hide_password=False)

    return DatabaseRoles(as_role(OWNER_ROLE), as_role(APP_ROLE), database_url)


@pytest.fixture
async def migrated_database_url(database_url: str) -> str:
    """`database_url` with every service's schema at the head of its history, as `anpr migrate all`
    leaves it before a zone's services start (one role: it migrates and serves)."""
    from schild.migrate import SERVICES, migrate_services

    await migrate_services(SERVICES, database_url, None)
    return database_url


@pytest.fixture
async def migrated_roles(database_roles: DatabaseRoles) -> DatabaseRoles:
    """`database_roles` with every service's schema at its head, migrated as the owner role (the
    runtime role given its rights), as `anpr migrate all` leaves a zone's database."""
    from schild.migrate import SERVICES, migrate_services

    await migrate_services(SERVICES, database_roles.app_url, database_roles.owner_url)
    return database_roles


# The zone exchange (cross-zone sharing): a throwaway broker of its own, never the shared one.
EXCHANGE_SCRIPT = REPO / "deploy" / "kafka" / "zone-exchange.sh"
EXCHANGE_ZONES = ("5344", "5388", "5390")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ZoneExchange:
    """A broker with the zone exchange's SASL/SCRAM listener and ACLs, as compose and the chart set it
    up (deploy/kafka/zone-exchange.sh): `bootstrap` is its plaintext listener (the zones' own
    services; its clients are super users), `sasl_bootstrap` the exchange, where zone-<zone> logs in
    with `passwords[zone]`."""

    bootstrap: str
    sasl_bootstrap: str
    passwords: dict[str, str]
    env: dict[str, str]

    def allow(self, zone: str, *neighbours: str, prefix: str) -> None:
        """`zone`'s ACLs on topics and groups named with `prefix`, and each neighbour's read of its topics."""
        subprocess.run(
            [str(EXCHANGE_SCRIPT), "acls", zone, *neighbours],
            env={**self.env, "TOPIC_PREFIX": prefix, "KAFKA_ACLS": f"{INFRA} kafka-acls"},
            check=True,
            capture_output=True,
        )


@pytest.fixture(scope="session")
def zone_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZoneExchange]:
    state = tmp_path_factory.mktemp("zone-exchange")
    plain, controller, sasl = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "SCHILD_INFRA_DIR": str(state),
        "SCHILD_KAFKA_PORT": str(plain),
        "SCHILD_KAFKA_CONTROLLER_PORT": str(controller),
        "SCHILD_KAFKA_SASL_PORT": str(sasl),
        "SCHILD_KAFKA_HEAP": "-Xms128m -Xmx384m",
    }
    started = subprocess.run([str(INFRA), "kafka-up"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise RuntimeError(f"the exchange broker did not start:\n{started.stderr[-4000:]}")
    try:
        passwords = {zone: uuid.uuid4().hex for zone in EXCHANGE_ZONES}
        files = []
        for zone, password in passwords.items():
            path = state / f"zone-{zone}.password"
            path.write_text(password)
            files.append(f"{zone}={path}")
        # The users as compose and the chart make them (kafka-configs), on the running broker.
        subprocess.run(
            [str(EXCHANGE_SCRIPT), "users", *files],
            env={**env, "KAFKA_CONFIGS": f"{INFRA} kafka-configs"},
            check=True,
            capture_output=True,
        )
        yield ZoneExchange(f"127.0.0.1:{plain}", f"127.0.0.1:{sasl}", passwords, env)
    finally:
        subprocess.run([str(INFRA), "kafka-down"], env=env, capture_output=True)


# The platform's services as separate processes (tests/e2e): as a zone runs them, on the real Kafka
# and PostgreSQL, migrated first by the owner's own step.
PLATFORM_SERVICES = ("audit", "access", "match", "detect", "ingest")


@dataclass
class ServiceProcesses:
    urls: dict[str, str]
    issuer: DevIssuer
    logs: dict[str, Path]
    env: dict[str, str]

    def token(self, role: Role, subject: str | None = None) -> dict[str, str]:
        """A bearer header for `role`; the subject names the user in the audit."""
        return {"Authorization": f"Bearer {self.issuer.issue(subject or f'e2e-{role.value}', role)}"}

    def tail_logs(self) -> str:
        return "\n".join(f"--- {name}\n{path.read_text()[-3000:]}" for name, path in self.logs.items())

    def eventually(self, probe: Callable[[], Any], what: str, timeout_s: float = 90) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if found := probe():
                return found
            time.sleep(0.3)
        pytest.fail(f"timed out waiting for {what}\n{self.tail_logs()}")


@contextlib.contextmanager
def service_processes(
    kafka_bootstrap: str, roles: DatabaseRoles, topic_prefix: str, folder: Path
) -> Iterator[ServiceProcesses]:
    """Migrates as the owner (`anpr migrate all`), starts each service on a free port as the runtime
    role, waits until every one is ready, and stops them all on leaving."""
    import httpx

    from anpr_core.auth import DevIssuer  # at run time, not at collection

    key_path = folder / "dev-issuer.pem"
    issuer = DevIssuer(key_path)
    env = {
        **os.environ,
        "ANPR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        # As production runs: the owner role migrates, each service serves as a role that owns nothing.
        "ANPR_DATABASE_URL": roles.app_url,
        "ANPR_DATABASE_OWNER_URL": roles.owner_url,
        "ANPR_TOPIC_PREFIX": topic_prefix,
        "ANPR_DEV_ISSUER_KEY_PATH": str(key_path),
        "ANPR_DATA_DIR": str(folder / "var"),
        "ANPR_LOG_LEVEL": "INFO",
        "ORT_DISABLE_TELEMETRY": "1",
        "PYTHONUNBUFFERED": "1",
    }
    # The owner's step before the services start, as the compose one-shot and the chart's Job run it.
    migrated = subprocess.run(
        [sys.executable, "-m", "schild.cli", "migrate", "all"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    processes: dict[str, subprocess.Popen[bytes]] = {}
    running = ServiceProcesses({}, issuer, {}, env)
    try:
        for name in PLATFORM_SERVICES:
            port = _free_port()
            running.logs[name] = folder / f"{name}.log"
            with running.logs[name].open("wb") as log:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", f"anpr_{name}"],
                    env={**env, "ANPR_PORT": str(port)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            running.urls[name] = f"http://127.0.0.1:{port}"
        pending = set(running.urls)
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                if processes[name].poll() is not None:
                    pytest.fail(f"{name} exited with {processes[name].returncode}\n{running.tail_logs()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{running.urls[name]}/readyz", timeout=2).status_code == 200:
                        pending.discard(name)
            time.sleep(0.3)
        if pending:
            pytest.fail(f"not ready after 120 s: {sorted(pending)}\n{running.tail_logs()}")
        yield running
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
