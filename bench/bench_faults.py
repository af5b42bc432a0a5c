"""Fault campaign: camera reads through ingest to access and match while the broker, a consumer, the
database and ingest itself fail. Counts what was accepted, lost and duplicated; exits 1 on any loss
or duplicate.

Everything runs on a throwaway Kafka broker (scripts/infra.sh kafka-up, own ports and state dir) and
a throwaway PostgreSQL cluster (initdb under a temp dir, own port), never on the shared ones. Ingest,
access and match run as processes (`python -m anpr_<service>`). Smart cameras send distinct reads
(plate, confidence, sometimes a JPEG crop) to POST /v1/reads on a fixed schedule, one in
HOTLIST_EVERY of a wanted plate; the client resends each read, with the same content, on 503 (after
Retry-After, capped), on refused or dropped connections and on timeouts, until a 202 or a final
give-up. Meanwhile, in turn:
  1. the broker is killed (SIGKILL) and started again after a few seconds;
  2. access (the reads consumer) is killed (SIGKILL) and started again;
  3. PostgreSQL is stopped (fast) and started again;
  4. ingest is killed (SIGKILL) with requests in flight and started again.
Then the pipeline drains, and bench/faults_reconcile.py compares what the cameras were told with
access's table, the reads topic, and the hits in match's and access's tables.

`--quick`: a short smoke run (fewer reads, the same faults). `--down FAULT=S` and `--only FAULT,...`
change the faults, e.g. a longer database outage right after a consumer restart:
    python -m bench.bench_faults --quick --only access_kill,postgres_restart \
        --down access_kill=8 --down postgres_restart=30
(ANPR_TOPIC_PARTITIONS in the environment reaches the services). Those runs print their result
and leave bench/results/faults.json alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from PIL import Image

from anpr.v1 import dlq_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.events import Topics, from_timestamp
from anpr_core.plates import normalise_plate
from anpr_ingest.domain.event_ids import intake_event_id
from anpr_ingest.domain.intake import read_digest
from bench.common import RESULTS, percentile, write_result
from bench.faults_reconcile import ReadKey, SeenRead, SentRead, reconcile, reconcile_hits

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "scripts" / "infra.sh"
ZONE = "5344"
PREFIX = "faults."
DATABASE = "faults"
ADMIN_ROLE, OWNER_ROLE, APP_ROLE = "schild", "schild_owner", "schild_app"
# A camera retries at most this long after its first attempt, then gives the read up.
GIVE_UP_AFTER_S = 180.0
# Retry-After is honoured up to this; connection errors back off from 0.5 s up to it.
RETRY_CAP_S = 5.0
REQUEST_TIMEOUT_S = 30.0
# Connections (requests in flight) per camera: a camera's backlog waits beyond these.
CAMERA_CONNECTIONS = 8
# One read in this many is of a plate on the hotlist.
HOTLIST_EVERY = 50


@dataclass(frozen=True)
class Plan:
    reads: int
    cameras: int
    load_s: float
    # (fault, planned start after the load began, seconds down)
    faults: tuple[tuple[str, float, float], ...]
    drain_timeout_s: float


FULL = Plan(
    reads=3000,
    cameras=12,
    load_s=120.0,
    faults=(
        ("broker_kill", 15.0, 8.0),
        ("access_kill", 45.0, 3.0),
        ("postgres_restart", 70.0, 5.0),
        ("ingest_kill", 95.0, 0.0),
    ),
    drain_timeout_s=150.0,
)
QUICK = Plan(
    reads=300,
    cameras=6,
    load_s=30.0,
    faults=(
        ("broker_kill", 3.0, 3.0),
        ("access_kill", 12.0, 1.0),
        ("postgres_restart", 18.0, 2.0),
        ("ingest_kill", 24.0, 0.0),
    ),
    drain_timeout_s=120.0,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def log(message: str) -> None:
    sys.stderr.write(f"[faults {datetime.now(UTC).strftime('%H:%M:%S')}] {message}\n")


# --- the throwaway infrastructure ----------------------------------------------------------------


class ThrowawayKafka:
    """A broker of the campaign's own (scripts/infra.sh kafka-up with another state dir and ports)."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.state = work / "kafka"
        self.environment = {
            **os.environ,
            "SCHILD_INFRA_DIR": str(self.state),
            "SCHILD_KAFKA_PORT": str(self.port),
            "SCHILD_KAFKA_CONTROLLER_PORT": str(free_port()),
        }
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log = work / "infra.log"

    def _infra(self, command: str) -> None:
        with self._log.open("ab") as out:
            subprocess.run(  # noqa: S603 - our own script, fixed arguments
                [str(INFRA), command], env=self.environment, stdout=out, stderr=out, check=True, timeout=240
            )

    def start(self) -> None:
        self._infra("kafka-up")

    def stop(self) -> None:
        self._infra("kafka-down")

    def kill(self) -> None:
        """SIGKILL: no controlled shutdown, unflushed segments, a log recovery at the next start."""
        pid = int((self.state / "kafka" / "kafka.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and "kafka.Kafka" in _cmdline(pid):
            time.sleep(0.05)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _postgres_bin() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3].split(".")[0])
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL's initdb was not found (apt-get install postgresql)")
    return Path(initdb).parent


class ThrowawayPostgres:
    """A PostgreSQL cluster of the campaign's own: initdb under the work dir, its own port; as the
    postgres user when we are root (the server refuses to run as root)."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.home = work / "postgres"
        self.data = self.home / "data"
        self.bin = _postgres_bin()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str) -> None:
        subprocess.run(  # noqa: S603 - PostgreSQL's own tools, fixed arguments
            [*self._as_postgres, str(self.bin / command[0]), *command[1:]],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=(self.home / "tools.log").open("ab"),
            timeout=120,
        )

    def url(self, role: str, database: str = DATABASE) -> str:
        return f"postgresql+asyncpg://{role}:{role}@127.0.0.1:{self.port}/{database}"

    def create(self) -> None:
        self.home.mkdir()
        password = self.home / "password"
        password.write_text(f"{ADMIN_ROLE}\n")
        if self._as_postgres:
            shutil.chown(self.home, "postgres", "postgres")
            shutil.chown(password, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", ADMIN_ROLE, f"--pwfile={password}",
            "--auth=scram-sha-256", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        settings = (
            f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.home}'\nmax_connections = 100\n"
            # A throwaway cluster, as scripts/infra.sh's: durability traded for speed.
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        self.start()

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.home / "server.log"), "-w", "-t", "60", "start"
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    async def set_up_roles(self) -> None:
        """The owner role migrates, the runtime role serves and owns nothing (as production runs)."""
        admin = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user=ADMIN_ROLE, password=ADMIN_ROLE, database="postgres"
        )
        try:
            for role in (OWNER_ROLE, APP_ROLE):
                await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{role}'")
            await admin.execute(f"CREATE DATABASE {DATABASE}")
            await admin.execute(f"GRANT CREATE ON DATABASE {DATABASE} TO {OWNER_ROLE}")
        finally:
            await admin.close()

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            host="127.0.0.1", port=self.port, user=ADMIN_ROLE, password=ADMIN_ROLE, database=DATABASE
        )


class Service:
    """One service as its own process; SIGKILL and start again on the same port."""

    def __init__(self, name: str, environment: dict[str, str], work: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._environment = {**environment, "ANPR_PORT": str(self.port), "ANPR_DATA_DIR": str(work / name)}
        self._work = work
        self.log = work / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own service
                [sys.executable, "-m", f"anpr_{self.name}"],
                env=self._environment,
                cwd=self._work,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                if self.process is None or self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see {self.log}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s; see {self.log}")
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- the cameras ---------------------------------------------------------------------------------


@dataclass
class CameraRead:
    """One distinct read: every attempt sends exactly this content."""

    camera_id: str
    captured_at: datetime
    text: str
    confidence: float
    crop: bytes
    due: float
    event_id: str
    attempts: int = 0
    accepted: bool = False
    duplicate_answer: bool = False
    answered_event_id: str = ""
    given_up: str = ""
    accepted_after_s: float = 0.0
    wanted: bool = False  # a plate on the hotlist: match must raise exactly one hit

    @property
    def key(self) -> ReadKey:
        return (self.camera_id, _micros(self.captured_at), normalise_plate(self.text))


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


@dataclass
class Tally:
    answers: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    connection_errors: int = 0
    timeouts: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    # (seconds since the load began, status) of every answer: what each fault did to the cameras.
    timeline: list[tuple[float, str]] = field(default_factory=list)


def crops(count: int, rng: random.Random) -> list[bytes]:
    """Small plate-like JPEG crops, each different."""
    found = []
    for _ in range(count):
        picture = Image.frombytes("L", (40, 10), rng.randbytes(400)).resize((160, 40)).convert("RGB")
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=80)
        found.append(buffer.getvalue())
    return found


def plate_text(rng: random.Random, letters: str = "") -> str:
    """Belgian-looking plates, written as cameras print them (ingest normalises to A-Z0-9). No W: a
    wanted plate has WNT, so no other read comes near it."""
    letters = letters or "".join(rng.choices("ABCDEFGHJKLMNPRSTUVXYZ", k=3))
    digits = f"{rng.randrange(1000):03d}"
    style = rng.randrange(3)
    if style == 0:
        return f"{rng.randrange(1, 3)}-{letters}-{digits}"
    if style == 1:
        return f"{rng.randrange(1, 3)} {letters.lower()} {digits}"
    return f"{letters}{digits}"


async def deliver(
    client: httpx.AsyncClient, url: str, key: str, read: CameraRead, tally: Tally, began: float
) -> None:
    """Sends one read until ingest takes it (202) or the camera gives up: on 503 after Retry-After
    (capped), on refused or dropped connections and timeouts after a growing pause."""
    backoff = 0.5
    first = time.monotonic()
    fields = {
        "camera_id": read.camera_id,
        "captured_at": read.captured_at.isoformat(),
        "text": read.text,
        "confidence": str(read.confidence),
    }
    files = {"crop": ("crop.jpg", read.crop, "image/jpeg")} if read.crop else None
    while True:
        if read.attempts:
            tally.retries += 1
        read.attempts += 1
        sent = time.monotonic()
        pause = backoff
        try:
            response = await client.post(
                f"{url}/v1/reads", data=fields, files=files, headers={"X-Camera-Key": key}
            )
        except httpx.TimeoutException:
            tally.timeouts += 1
            tally.timeline.append((time.monotonic() - began, "timeout"))
        except httpx.TransportError:  # refused, reset, closed without an answer
            tally.connection_errors += 1
            tally.timeline.append((time.monotonic() - began, "connection_error"))
        else:
            status = str(response.status_code)
            tally.answers[status] += 1
            tally.timeline.append((time.monotonic() - began, status))
            if response.status_code == 202:
                body = response.json()
                tally.latencies_ms.append((time.monotonic() - sent) * 1000)
                read.accepted = True
                read.duplicate_answer = bool(body.get("duplicate"))
                read.answered_event_id = str(body.get("event_id", ""))
                read.accepted_after_s = time.monotonic() - read.due
                return
            if response.status_code in (429, 503):
                try:
                    pause = min(float(response.headers.get("retry-after", "1")), RETRY_CAP_S)
                except ValueError:
                    pause = 1.0
            else:
                read.given_up = f"{status}: {response.text[:200]}"
                return
        if time.monotonic() - first + pause > GIVE_UP_AFTER_S:
            read.given_up = f"no 202 within {GIVE_UP_AFTER_S:.0f} s"
            return
        await asyncio.sleep(pause * random.uniform(0.8, 1.2))
        backoff = min(backoff * 2, RETRY_CAP_S)


async def camera(
    client: httpx.AsyncClient, ingest: Service, key: str, reads: list[CameraRead], tally: Tally, began: float
) -> None:
    """Sends the camera's reads at their due times, at most CAMERA_CONNECTIONS at once."""
    slots = asyncio.Semaphore(CAMERA_CONNECTIONS)

    async def one(read: CameraRead) -> None:
        async with slots:
            await deliver(client, ingest.url, key, read, tally, began)

    running = []
    for read in reads:
        await asyncio.sleep(max(0.0, read.due - time.monotonic()))
        capture(read)  # the content is fixed from now on: every attempt sends the same
        running.append(asyncio.create_task(one(read)))
    await asyncio.gather(*running)


def schedule(
    plan: Plan, camera_ids: list[str], began: float, rng: random.Random
) -> dict[str, list[CameraRead]]:
    """Each camera's reads, due at even intervals, captured when due; content varies."""
    per_camera = plan.reads // len(camera_ids)
    interval = plan.load_s / per_camera
    pool = crops(32, rng)
    reads: dict[str, list[CameraRead]] = {}
    for n, camera_id in enumerate(camera_ids):
        offset = interval * n / len(camera_ids)
        reads[camera_id] = [
            CameraRead(
                camera_id=camera_id,
                captured_at=datetime.now(UTC),  # set again when due (below)
                text=plate_text(rng),
                confidence=round(rng.uniform(0.55, 0.99), 3),
                crop=rng.choice(pool) if rng.random() < 0.3 else b"",
                due=began + offset + i * interval,
                event_id="",
            )
            for i in range(per_camera)
        ]
    # Every HOTLIST_EVERY-th read, in the order they come, is of a wanted plate, each a different one.
    in_order = sorted((read for camera_reads in reads.values() for read in camera_reads), key=lambda r: r.due)
    for read in in_order[HOTLIST_EVERY // 2 :: HOTLIST_EVERY]:
        read.wanted = True
        while (text := plate_text(rng, "WNT")) and any(
            normalise_plate(text) == normalise_plate(other.text) for other in in_order if other.wanted
        ):
            pass
        read.text = text
    return reads


def capture(read: CameraRead) -> None:
    """The camera sees the plate now: the capture time, and the event id ingest will derive."""
    read.captured_at = datetime.now(UTC)
    plate = normalise_plate(read.text)
    read.event_id = intake_event_id(ZONE, read.camera_id, read.captured_at, read_digest(plate, read.crop))


def shift(reads: dict[str, list[CameraRead]], by_s: float) -> float:
    """Moves every read's due time by `by_s`; returns when the first camera's first read is due."""
    for camera_reads in reads.values():
        for read in camera_reads:
            read.due += by_s
    return min(camera_reads[0].due for camera_reads in reads.values())


async def hotlist(match: Service, issuer: DevIssuer, plates: list[str]) -> None:
    """Puts the wanted plates on a list of exact matches, and waits until match has indexed them."""
    supervisor = {"Authorization": f"Bearer {issuer.issue('fault-campaign', Role.SUPERVISOR)}"}
    async with httpx.AsyncClient(base_url=match.url, headers=supervisor, timeout=30) as client:
        listed = await client.post(
            "/v1/lists", json={"name": "faults-wanted", "category": "stolen_vehicle", "max_substitutions": 0}
        )
        listed.raise_for_status()
        entry_ids = []
        for plate in plates:
            entry = await client.post(
                "/v1/hotlist",
                json={
                    "plate": plate,
                    "list_name": "faults-wanted",
                    "reason": "fault campaign",
                    "case_reference": "PV-FAULTS-15",
                },
            )
            entry.raise_for_status()
            entry_ids.append(entry.json()["entry_id"])
        deadline = time.monotonic() + 60
        for entry_id in entry_ids:
            while not (await client.get(f"/v1/hotlist/{entry_id}")).json()["indexed"]:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"match did not index the hotlist within 60 s; see {match.log}")
                await asyncio.sleep(0.2)


# --- the faults ----------------------------------------------------------------------------------


async def inflict(
    plan: Plan,
    began: float,
    kafka: ThrowawayKafka,
    postgres: ThrowawayPostgres,
    ingest: Service,
    access: Service,
) -> list[dict[str, Any]]:
    """The faults in turn, each at its planned time or once the previous one has recovered."""

    def since() -> float:
        return round(time.monotonic() - began, 2)

    async def broker_kill(down_s: float) -> None:
        await asyncio.to_thread(kafka.kill)
        await asyncio.sleep(down_s)
        record["restarting_at_s"] = since()
        await asyncio.to_thread(kafka.start)

    async def access_kill(down_s: float) -> None:
        access.kill()
        await asyncio.sleep(down_s)
        record["restarting_at_s"] = since()
        access.start()
        await access.ready()

    async def postgres_restart(down_s: float) -> None:
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(down_s)
        record["restarting_at_s"] = since()
        await asyncio.to_thread(postgres.start)

    async def ingest_kill(down_s: float) -> None:
        ingest.kill()
        await asyncio.sleep(down_s)
        record["restarting_at_s"] = since()
        ingest.start()
        await ingest.ready()

    faults: dict[str, Callable[[float], Awaitable[None]]] = {
        "broker_kill": broker_kill,
        "access_kill": access_kill,
        "postgres_restart": postgres_restart,
        "ingest_kill": ingest_kill,
    }
    done: list[dict[str, Any]] = []
    for name, at_s, down_s in plan.faults:
        await asyncio.sleep(max(0.0, began + at_s - time.monotonic()))
        record: dict[str, Any] = {"fault": name, "planned_at_s": at_s, "at_s": since(), "at": _now()}
        log(f"{name} at {record['at_s']} s")
        await faults[name](down_s)
        record["recovered_at_s"] = since()
        record["down_s"] = round(record["recovered_at_s"] - record["at_s"], 2)
        log(f"{name}: back after {record['down_s']} s")
        done.append(record)
    return done


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --- what reached the end ------------------------------------------------------------------------


async def stored_reads(postgres: ThrowawayPostgres) -> list[SeenRead]:
    connection = await postgres.connect()
    try:
        rows = await connection.fetch("SELECT event_id, camera_id, captured_at, plate FROM access.reads")
    finally:
        await connection.close()
    return [SeenRead((r["camera_id"], _micros(r["captured_at"]), r["plate"]), r["event_id"]) for r in rows]


async def hit_rows(postgres: ThrowawayPostgres, table: str) -> list[tuple[str, str]]:
    """(read event id, hit id) of match's hits (what operators see) or access's (what it stored)."""
    connection = await postgres.connect()
    try:
        rows = await connection.fetch(f"SELECT read_event_id, hit_id FROM {table}")  # noqa: S608 - ours
    finally:
        await connection.close()
    return [(r["read_event_id"], r["hit_id"]) for r in rows]


async def drain(postgres: ThrowawayPostgres, accepted: set[str], wanted: set[str], timeout_s: float) -> float:
    """Waits until access holds every accepted read and the hit of every wanted one, or nothing more
    arrives for a while."""
    started = time.monotonic()
    last_count, last_progress = -1, started
    while time.monotonic() - started < timeout_s:
        try:
            stored = {read.event_id for read in await stored_reads(postgres)}
            stored |= {f"hit:{read_id}" for read_id, _hit in await hit_rows(postgres, "access.hits")}
        except (OSError, asyncpg.PostgresError):
            stored = set()
        missing = (accepted - stored) | ({f"hit:{read_id}" for read_id in wanted} - stored)
        if not missing:
            break
        if len(stored) != last_count:
            last_count, last_progress = len(stored), time.monotonic()
        elif time.monotonic() - last_progress > 60:
            log(f"nothing more arrived for 60 s; {len(missing)} accepted reads and hits missing")
            break
        await asyncio.sleep(1.0)
    return round(time.monotonic() - started, 1)


async def topic_records(bootstrap: str, topic: str) -> list[bytes]:
    """Every record of a topic, from the beginning to its end now."""
    # Subscribed without a group: every partition is assigned to us once the metadata is in.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment():
            if time.monotonic() > deadline:
                raise RuntimeError(f"no partitions of {topic} were assigned within 30 s")
            await asyncio.sleep(0.1)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            if time.monotonic() > deadline + 60:
                raise RuntimeError(f"{topic} could not be read to its end within 60 s")
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batches.items():
                values.extend(m.value for m in messages)
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return values
    finally:
        await consumer.stop()


def published_reads(values: list[bytes]) -> list[SeenRead]:
    found = []
    for value in values:
        read = read_pb2.PlateRead()
        read.ParseFromString(value)
        captured = from_timestamp(read.captured_at)
        found.append(SeenRead((read.camera_id, _micros(captured), read.plate), read.meta.event_id))
    return found


def dead_letters(values: list[bytes]) -> Counter[str]:
    reasons: Counter[str] = Counter()
    for value in values:
        letter = dlq_pb2.DeadLetter()
        letter.ParseFromString(value)
        reasons[f"{letter.consumer}: {letter.reason[:120]}"] += 1
    return reasons


# --- the campaign --------------------------------------------------------------------------------


async def campaign(plan: Plan, work: Path) -> dict[str, Any]:
    kafka = ThrowawayKafka(work)
    postgres = ThrowawayPostgres(work)
    key_path = work / "dev-issuer.pem"
    issuer = DevIssuer(key_path)
    environment = {
        **os.environ,
        "ANPR_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "ANPR_DATABASE_URL": postgres.url(APP_ROLE),
        "ANPR_DATABASE_OWNER_URL": postgres.url(OWNER_ROLE),
        "ANPR_TOPIC_PREFIX": PREFIX,
        "ANPR_ZONE_ID": ZONE,
        "ANPR_DEV_ISSUER_KEY_PATH": str(key_path),
        "ANPR_LOG_LEVEL": "WARNING",
        "ORT_DISABLE_TELEMETRY": "1",
        "PYTHONUNBUFFERED": "1",
    }
    ingest = Service("ingest", environment, work)
    access = Service("access", environment, work)
    match = Service("match", environment, work)
    services = (ingest, access, match)
    try:
        log(f"throwaway PostgreSQL on :{postgres.port}, Kafka on :{kafka.port}, in {work}")
        await asyncio.to_thread(postgres.create)
        await postgres.set_up_roles()
        await asyncio.to_thread(kafka.start)
        for service in services:
            service.start()
        for service in services:
            await service.ready()

        admin = {"Authorization": f"Bearer {issuer.issue('fault-campaign', Role.ADMIN)}"}
        keys: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=ingest.url, timeout=30) as client:
            for n in range(plan.cameras):
                camera_id = f"faults-cam-{n:02d}"
                created = await client.post(
                    "/v1/cameras",
                    json={"camera_id": camera_id, "name": camera_id, "direction": "in", "kind": "smart"},
                    headers=admin,
                )
                created.raise_for_status()
                keys[camera_id] = created.json()["api_key"]

        rng = random.Random(15)
        began = time.monotonic() + 30.0  # after the hotlist is in place (below)
        reads = schedule(plan, list(keys), began, rng)
        every = [read for camera_reads in reads.values() for read in camera_reads]
        await hotlist(match, issuer, [read.text for read in every if read.wanted])
        began = shift(reads, time.monotonic() + 1.0 - began)
        tally = Tally()
        limits = httpx.Limits(max_connections=plan.cameras * CAMERA_CONNECTIONS, max_keepalive_connections=64)
        log(f"{len(every)} reads from {plan.cameras} cameras over {plan.load_s:.0f} s")
        async with httpx.AsyncClient(
            limits=limits, timeout=httpx.Timeout(REQUEST_TIMEOUT_S, connect=5.0)
        ) as client:
            load = asyncio.gather(
                *(
                    camera(client, ingest, keys[c], camera_reads, tally, began)
                    for c, camera_reads in reads.items()
                )
            )
            faults = await inflict(plan, began, kafka, postgres, ingest, access)
            await load
        load_s = round(time.monotonic() - began, 1)
        log(f"cameras done after {load_s} s; draining")

        accepted_ids = {read.event_id for read in every if read.accepted}
        wanted_ids = {read.event_id for read in every if read.accepted and read.wanted}
        drain_s = await drain(postgres, accepted_ids, wanted_ids, plan.drain_timeout_s)
        hits = {
            "match.hits": reconcile_hits(wanted_ids, await hit_rows(postgres, "match.hits")),
            "access.hits": reconcile_hits(wanted_ids, await hit_rows(postgres, "access.hits")),
        }
        stored = await stored_reads(postgres)
        published = published_reads(await topic_records(kafka.bootstrap, Topics(PREFIX).reads))
        letters = dead_letters(await topic_records(kafka.bootstrap, Topics(PREFIX).dlq))
        counts = reconcile(
            [SentRead(read.key, read.event_id, read.accepted, read.answered_event_id) for read in every],
            stored,
            published,
        )
        return {
            "counts": counts,
            "hits": hits,
            "faults": faults,
            "tally": tally,
            "every": every,
            "load_s": load_s,
            "drain_s": drain_s,
            "dead_letters": dict(letters),
        }
    finally:
        for service in services:
            service.stop()
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            await asyncio.to_thread(kafka.stop)
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            await asyncio.to_thread(postgres.stop)


def summarise(plan: Plan, outcome: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    counts: dict[str, Any] = outcome["counts"]
    tally: Tally = outcome["tally"]
    every: list[CameraRead] = outcome["every"]
    to_accept = [read.accepted_after_s * 1000 for read in every if read.accepted]
    metrics = {
        "sent": float(counts["sent"]),
        "accepted": float(counts["accepted"]),
        "duplicate_answers": float(sum(1 for read in every if read.duplicate_answer)),
        "given_up": float(sum(1 for read in every if read.given_up)),
        "lost": float(counts["lost"]),
        "duplicated": float(counts["duplicated"]),
        "stored_twice": float(counts["stored_twice"]),
        "split_in_kafka": float(counts["split_in_kafka"]),
        "repeated_in_kafka": float(counts["repeated_in_kafka"]),
        "kafka_records": float(counts["kafka_records"]),
        "stored_rows": float(counts["stored_rows"]),
        "answers_503": float(tally.answers.get("503", 0)),
        "retries": float(tally.retries),
        "connection_errors": float(tally.connection_errors),
        "timeouts": float(tally.timeouts),
        "latency_p50_ms": round(percentile(tally.latencies_ms, 50), 1),
        "latency_p99_ms": round(percentile(tally.latencies_ms, 99), 1),
        "time_to_accept_p50_ms": round(percentile(to_accept, 50), 1),
        "time_to_accept_p99_ms": round(percentile(to_accept, 99), 1),
        "time_to_accept_max_ms": round(max(to_accept, default=float("nan")), 1),
        "load_s": float(outcome["load_s"]),
        "drain_s": float(outcome["drain_s"]),
        "dead_letters": float(sum(outcome["dead_letters"].values())),
        # Reads of wanted plates: one hit each in match's table and in access's, never none or two.
        "hits_expected": float(outcome["hits"]["match.hits"]["expected"]),
        "hits_lost": float(max(table["lost"] for table in outcome["hits"].values())),
        "hits_duplicated": float(max(table["duplicated"] for table in outcome["hits"].values())),
    }
    # What each fault did to the cameras: the answers from its start to its recovery plus 10 s.
    for fault in outcome["faults"]:
        window = [s for t, s in tally.timeline if fault["at_s"] <= t <= fault["recovered_at_s"] + 10]
        fault["answers_until_10s_after_recovery"] = dict(Counter(window))
    details = {
        "counts": counts,
        "hits": outcome["hits"],
        "faults": outcome["faults"],
        "answers": dict(tally.answers),
        "given_up": Counter(read.given_up for read in every if read.given_up),
        "dead_letters": outcome["dead_letters"],
        "plan": {
            "reads": plan.reads,
            "cameras": plan.cameras,
            "load_s": plan.load_s,
            "camera_connections": CAMERA_CONNECTIONS,
            "retry_cap_s": RETRY_CAP_S,
            "give_up_after_s": GIVE_UP_AFTER_S,
            "request_timeout_s": REQUEST_TIMEOUT_S,
        },
    }
    return metrics, details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a short smoke run; bench/results is left alone")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data) afterwards")
    parser.add_argument(
        "--down",
        action="append",
        default=[],
        metavar="FAULT=SECONDS",
        help="how long a fault keeps its part down (e.g. postgres_restart=15); bench/results is left alone",
    )
    parser.add_argument(
        "--only", metavar="FAULT,...", help="these faults alone, at their times; bench/results is left alone"
    )
    options = parser.parse_args()
    plan = QUICK if options.quick else FULL
    downs = dict(item.split("=", 1) for item in options.down)
    only = set(options.only.split(",")) if options.only else {name for name, _at, _down in plan.faults}
    if unknown := (set(downs) | only) - {name for name, _at, _down in plan.faults}:
        parser.error(f"no such fault: {', '.join(sorted(unknown))}")
    faults = tuple((name, at, float(downs.get(name, down))) for name, at, down in plan.faults if name in only)
    plan = replace(plan, faults=faults)
    explore = options.quick or bool(downs) or bool(options.only)
    work = Path(tempfile.mkdtemp(prefix="schild-faults-"))
    work.chmod(0o755)  # the postgres user must reach its data dir inside
    try:
        outcome = asyncio.run(campaign(plan, work))
    except BaseException:
        log(f"the campaign failed; logs kept in {work}")
        raise
    metrics, details = summarise(plan, outcome)
    notes = (
        f"{metrics['sent']:.0f} distinct camera reads (POST /v1/reads, {plan.cameras} smart cameras, "
        f"{plan.load_s:.0f} s) through ingest to access on a throwaway Kafka broker and PostgreSQL "
        "cluster, while the broker was killed (SIGKILL) and restarted, access was killed (SIGKILL) and "
        "restarted, PostgreSQL was stopped (fast) and started, and ingest was killed (SIGKILL) with "
        "requests in flight and restarted. The client resends the same content on 503 (Retry-After, "
        f"capped at {RETRY_CAP_S:.0f} s), connection errors and timeouts. lost: accepted but not in "
        "access.reads (by the content's event id, or by camera, capture time and plate); duplicated: "
        "stored twice, or on anpr.reads.v1 under two event ids; repeated_in_kafka: on the topic more "
        "than once under one event id (kept once by the sinks). Latency: of the accepted attempts; "
        "time to accept: from the read's due time to its 202, retries included. Match runs too, with "
        f"one read in {HOTLIST_EVERY} of a wanted plate (each a different one, on an exact-match list): "
        "hits_lost and hits_duplicated count wanted reads with no hit, or two, in match.hits or "
        "access.hits. Other engineers' "
        "processes shared the 2 cores during the run."
    )
    failed = any(metrics[name] > 0 for name in ("lost", "duplicated", "hits_lost", "hits_duplicated"))
    failed = failed or details["counts"]["answered_other_event_id"] > 0
    if explore:
        result = {"metrics": metrics, **details}
        sys.stdout.write(json.dumps(result, indent=1, sort_keys=True, default=str) + "\n")
    else:
        path = write_result("faults", metrics, {}, notes)
        result = json.loads(path.read_text())
        result.update(details)
        path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        sys.stdout.write(f"{path.relative_to(RESULTS.parent.parent)}\n")
        sys.stdout.write(json.dumps(metrics, indent=1) + "\n")
    if failed:
        log(
            f"FAILED: {metrics['lost']:.0f} reads lost, {metrics['duplicated']:.0f} duplicated, "
            f"{metrics['hits_lost']:.0f} hits lost, {metrics['hits_duplicated']:.0f} duplicated; "
            f"logs in {work}"
        )
        raise SystemExit(1)
    if not options.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"work dir kept: {work}")


if __name__ == "__main__":
    main()
