"""Ingest end to end: accepted frames per second (HTTP in, Kafka acks=all out) and request latency.

A real ingest process (`python -m anpr_ingest`, uvicorn) on the real Kafka broker and PostgreSQL
(`scripts/infra.sh`), with a fresh topic prefix and a fresh database. 20 simulated cameras push
~200 KB JPEGs through `anpr_ingest.replay.push_frame`, the load generator of `anpr camera replay`.

Baseline, measured in the same run: raw aiokafka produce (acks=all, idempotent) of the same Frame
records at the same concurrency, with no HTTP, validation or database in between.
A second, shorter run of the service under cProfile gives the split of where its time goes.
"""

from __future__ import annotations

import asyncio
import io
import os
import pstats
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from PIL import Image

from anpr.v1 import frame_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus.kafka import MAX_MESSAGE_BYTES, KafkaBus
from anpr_core.events import new_meta, to_timestamp
from anpr_ingest.replay import ReplayReport, push_frame
from bench.common import percentile, write_result

REPO = Path(__file__).resolve().parents[1]
CAMERAS = 20
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "40"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
PROFILE_SECONDS = float(os.environ.get("BENCH_PROFILE_SECONDS", "8"))
WARMUP_SECONDS = 2.0
TARGET_BYTES = 200 * 1024


def infra_env() -> dict[str, str]:
    if os.environ.get("ANPR_KAFKA_BOOTSTRAP") and os.environ.get("ANPR_DATABASE_URL"):
        return {k: os.environ[k] for k in ("ANPR_KAFKA_BOOTSTRAP", "ANPR_DATABASE_URL")}
    out = subprocess.run(  # noqa: S603 - our own script
        [str(REPO / "scripts" / "infra.sh"), "up"], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line)


def camera_jpegs(count: int) -> list[bytes]:
    """Photo-like JPEGs of about 200 KB: smooth gradients with noise, 1280x720."""
    rng = random.Random(42)
    images = []
    for n in range(count):
        noise = Image.frombytes("RGB", (320, 180), rng.randbytes(320 * 180 * 3)).resize((1280, 720))
        base = Image.linear_gradient("L").resize((1280, 720)).convert("RGB")
        picture = Image.blend(base, noise, 0.5 + n / (count * 10))
        quality = 92
        while True:
            buffer = io.BytesIO()
            picture.save(buffer, format="JPEG", quality=quality)
            if buffer.tell() <= TARGET_BYTES * 1.1 or quality < 30:
                break
            quality -= 4
        images.append(buffer.getvalue())
    return images


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def ingest_process(
    env: dict[str, str], work: Path, profile_to: Path | None = None
) -> Iterator[tuple[str, int]]:
    port = free_port()
    command = [sys.executable]
    if profile_to is not None:
        command += ["-m", "cProfile", "-o", str(profile_to)]
    command += ["-m", "anpr_ingest"]
    process = subprocess.Popen(  # noqa: S603 - our own service
        command,
        env={**os.environ, **env, "ANPR_PORT": str(port), "ANPR_LOG_LEVEL": "WARNING"},
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=(work / "ingest.log").open("ab"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ingest did not start; see {work / 'ingest.log'}")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly; cProfile then writes
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def register_cameras(url: str, issuer: DevIssuer, run: str) -> list[tuple[str, str]]:
    admin = {"Authorization": f"Bearer {issuer.issue('bench', Role.ADMIN)}"}
    cameras = []
    async with httpx.AsyncClient(base_url=url) as client:
        for n in range(CAMERAS):
            camera_id = f"bench-{run}-{n:02d}"
            response = await client.post(
                "/v1/cameras",
                json={"camera_id": camera_id, "name": camera_id, "direction": "in"},
                headers=admin,
            )
            response.raise_for_status()
            cameras.append((camera_id, response.json()["api_key"]))
    return cameras


async def load(
    url: str, cameras: list[tuple[str, str]], images: list[bytes], seconds: float, expect: int = 202
) -> dict[str, float]:
    """CONCURRENCY workers, spread over the cameras, each sending frames back to back."""
    report = ReplayReport()
    latencies: list[float] = []
    counted = {"accepted": 0}
    errors = {"http": 0}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        warm_until = time.monotonic() + WARMUP_SECONDS
        stop_at = warm_until + seconds

        async def worker(n: int) -> None:
            camera_id, key = cameras[n % len(cameras)]
            sent = 0
            while time.monotonic() < stop_at:
                image = images[(n + sent) % len(images)]
                sent += 1
                began = time.monotonic()
                started = time.perf_counter()
                try:
                    response = await push_frame(client, camera_id, key, image, report)
                except httpx.HTTPError:
                    errors["http"] += 1  # counted, never hidden: it lowers the accepted rate
                    continue
                if began >= warm_until and response.status_code == expect:
                    latencies.append((time.perf_counter() - started) * 1000)
                    counted["accepted"] += 1

        await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
    return {
        "frames_per_s": round(counted["accepted"] / seconds, 1),
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p99_ms": round(percentile(latencies, 99), 1),
        "refused": float(report.refused),
        "sent": float(report.sent),
        "http_errors": float(errors["http"]),
    }


async def raw_produce(bootstrap: str, topic: str, images: list[bytes], seconds: float) -> dict[str, float]:
    """The same Frame records straight into aiokafka, at the same concurrency: the floor ingest sits on."""
    await KafkaBus(bootstrap, client_id="bench-raw", topics=[topic], partitions=3).ensure_topics([topic])
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_MESSAGE_BYTES,
        linger_ms=2,
    )
    await producer.start()
    latencies: list[float] = []
    try:
        warm_until = time.monotonic() + WARMUP_SECONDS
        stop_at = warm_until + seconds

        async def worker(n: int) -> None:
            sent = 0
            while time.monotonic() < stop_at:
                image = images[(n + sent) % len(images)]
                sent += 1
                frame = frame_pb2.Frame(
                    meta=new_meta("bench", "bench"),
                    camera_id=f"raw-{n % CAMERAS}",
                    captured_at=to_timestamp(datetime.now(UTC)),
                    content_type="image/jpeg",
                    image=image,
                )
                started = time.perf_counter()
                await producer.send_and_wait(topic, frame.SerializeToString(), key=frame.camera_id.encode())
                if time.monotonic() > warm_until:
                    latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
    finally:
        await producer.stop()
    return {
        "frames_per_s": round(len(latencies) / seconds, 1),
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p99_ms": round(percentile(latencies, 99), 1),
    }


CATEGORIES = (
    ("multipart parsing", ("python_multipart", "multipart", "formparsers", "tempfile")),
    ("database (SQLAlchemy, asyncpg)", ("sqlalchemy", "asyncpg")),
    ("Kafka client (aiokafka)", ("aiokafka", "kafka")),
    ("HTTP server (uvicorn, h11/httptools)", ("uvicorn", "h11", "httptools")),
    ("FastAPI/Starlette/pydantic", ("fastapi", "starlette", "pydantic", "anyio")),
    ("image checks and hashing (ingest)", ("anpr_ingest", "hashlib", "_hashlib")),
    ("protobuf", ("protobuf", "google")),
    ("asyncio and selectors", ("asyncio", "selectors")),
)


STARTUP = ("builtins.compile", "marshal.loads", "builtins.exec", "__build_class__", "_imp.")


def profile_split(path: Path) -> dict[str, float]:
    """Share of the service's CPU time (own time of each function) per part of the request path."""
    stats = pstats.Stats(str(path))
    totals: dict[str, float] = defaultdict(float)
    overall = 0.0
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        overall += tottime
        label = "other"
        where = f"{filename}:{name}"
        for category, needles in CATEGORIES:
            if any(needle in where for needle in needles):
                label = category
                break
        if "_socket.socket" in where:
            label = "socket writes and reads (mostly frames out to Kafka)"
        if "importlib" in where or any(s in where for s in STARTUP):
            label = "skip: start-up (imports)"
        if "select.epoll" in where:
            label = "skip: idle (waiting in epoll)"
        totals[label] += tottime
    busy = overall - sum(v for k, v in totals.items() if k.startswith("skip"))
    ordered = sorted(totals.items(), key=lambda kv: -kv[1])
    return {k: round(100 * v / busy, 1) for k, v in ordered if not k.startswith("skip")}


async def fresh_database(admin_url: str) -> tuple[str, str]:
    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name, f"{admin_url.rpartition('/')[0]}/{name}"


async def drop_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def main() -> None:
    infra = infra_env()
    images = camera_jpegs(CAMERAS)
    mean_kb = sum(len(i) for i in images) / len(images) / 1024
    run = uuid.uuid4().hex[:6]
    prefix = f"bench{run}."
    database, database_url = await fresh_database(infra["ANPR_DATABASE_URL"])
    load_before = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            key_path = work / "dev-issuer.pem"
            issuer = DevIssuer(key_path)
            env = {
                "ANPR_KAFKA_BOOTSTRAP": infra["ANPR_KAFKA_BOOTSTRAP"],
                "ANPR_DATABASE_URL": database_url,
                "ANPR_TOPIC_PREFIX": prefix,
                "ANPR_DEV_ISSUER_KEY_PATH": str(key_path),
                "ANPR_DATA_DIR": str(work),
                # Frames are refused past the skew; the bench's clock is the server's.
                "ANPR_MAX_CLOCK_SKEW_S": str(timedelta(minutes=5).total_seconds()),
            }
            with ingest_process(env, work) as (url, pid):
                cameras = await register_cameras(url, issuer, run)
                service_cpu, own_cpu = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_SELF)
                measured = await load(url, cameras, images, SECONDS)
                service_cpu = cpu_seconds(pid) - service_cpu
                after = resource.getrusage(resource.RUSAGE_SELF)
                client_cpu = after.ru_utime + after.ru_stime - own_cpu.ru_utime - own_cpu.ru_stime
                # The same requests with a wrong key: HTTP, multipart parsing and the cached key check,
                # but no dedupe claim and no Kafka publish (answered 401).
                http_cpu = cpu_seconds(pid)
                wrong_keys = [(camera_id, "cam_wrong") for camera_id, _ in cameras]
                http_only = await load(url, wrong_keys, images, PROFILE_SECONDS, expect=401)
                http_cpu = cpu_seconds(pid) - http_cpu
            baseline = await raw_produce(
                infra["ANPR_KAFKA_BOOTSTRAP"], f"{prefix}raw.frames", images, SECONDS
            )
            profile = work / "ingest.prof"
            with ingest_process(env, work, profile_to=profile) as (url, _pid):
                profiled = await load(url, cameras, images, PROFILE_SECONDS)
            split = profile_split(profile)
    finally:
        await drop_database(infra["ANPR_DATABASE_URL"], database)
    load_after = os.getloadavg()[0]
    split_text = ", ".join(f"{k} {v}%" for k, v in split.items())
    notes = (
        f"{CAMERAS} cameras, {CONCURRENCY} concurrent requests, JPEGs of {mean_kb:.0f} KB on average, "
        f"{SECONDS:.0f} s measured after {WARMUP_SECONDS:.0f} s warm-up; ingest, Kafka, PostgreSQL "
        f"and the load generator share the machine's {os.cpu_count()} cores "
        f"(load average {load_before:.1f} before, "
        f"{load_after:.1f} after: other engineers' processes were running too). "
        f"Baselines: raw aiokafka produce of the same Frame records, acks=all, same concurrency "
        f"(frames_per_s, latency_*), and the same HTTP requests answered 401 after multipart parsing "
        f"and the cached key check, with no dedupe claim and no Kafka publish (http_only_*; "
        f"ingest_cpu_ms_per_frame is ingest's CPU per request in that run). "
        f"Split of ingest's own CPU time under cProfile ({PROFILE_SECONDS:.0f} s run at "
        f"{profiled['frames_per_s']} frames/s under the profiler): {split_text}. "
        f"CPU per frame sent (warm-up included): ingest process "
        f"{1000 * service_cpu / measured['sent']:.1f} ms, "
        f"load generator {1000 * client_cpu / measured['sent']:.1f} ms. "
        f"Refused during the measured run: {measured['refused']:.0f} of {measured['sent']:.0f}; "
        f"connection errors: {measured['http_errors']:.0f}."
    )
    metrics = {k: measured[k] for k in ("frames_per_s", "latency_p50_ms", "latency_p99_ms")}
    baseline["http_only_requests_per_s"] = http_only["frames_per_s"]
    baseline["http_only_latency_p99_ms"] = http_only["latency_p99_ms"]
    metrics["ingest_cpu_ms_per_frame"] = round(1000 * service_cpu / measured["sent"], 2)
    baseline["ingest_cpu_ms_per_frame"] = round(1000 * http_cpu / http_only["sent"], 2)
    path = write_result("ingest", metrics, baseline, notes)
    sys.stdout.write(f"{path}\n{metrics}\nbaseline {baseline}\n{notes}\n")


if __name__ == "__main__":
    asyncio.run(main())
