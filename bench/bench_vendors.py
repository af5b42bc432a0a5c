"""Vendor camera formats: reads accepted per second per format, against the platform's own camera-side
reads (POST /v1/reads) in the same run.

A real ingest process (`python -m anpr_ingest`) on the real Kafka and PostgreSQL (scripts/infra.sh),
fresh topics and database. CONCURRENCY keep-alive connections (the minimal HTTP/1.1 client of
bench_ingest), spread over each format's cameras, push reads back to back for SECONDS each: first the
platform's own form (the baseline), then each vendor's format as `anpr camera emulate` builds it
(Hikvision multipart XML + JPEG parts, Dahua JSON with base64 images under Digest, Axis NEW events with
their JPEG part, Vaxtor, Genetec and Tattile XML with base64 images), then the baseline again (the
machine is shared: the two baseline runs bound the drift). Each vendor read carries a 160x40 crop and
a ~200 KB 1280x720 scene, both decoded before they are accepted; the platform's own reads can carry the
crop only, so a Hikvision run without its scene is measured too, like for like. Every request has a
fresh capture time (a new event, never a duplicate). Ingest's CPU per read is from /proc.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from PIL import Image

from anpr_core.auth import DevIssuer, Role
from anpr_ingest.domain.camera_auth import REALM, ha1_of, response_for
from bench.bench_ingest import (
    camera_jpegs,
    cpu_seconds,
    drop_database,
    exchange,
    fresh_database,
    infra_env,
    ingest_process,
)
from bench.common import delete_topics, percentile, write_result
from schild.camera_emulate import VENDORS, Push, pushes

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "8"))
WARMUP_SECONDS = 1.0
CAMERAS_PER_FORMAT = 8
PLATE = "1ABC234"

Builder = Callable[[str, str, int], list[bytes]]  # (camera id, key, n) -> the request's parts


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (230, 230, 230)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def own_read(host: str, crop: bytes) -> Builder:
    """POST /v1/reads as a multipart form (camera_id, captured_at, text, confidence, crop)."""

    def build(camera_id: str, key: str, n: int) -> list[bytes]:
        boundary = "schildbenchreads0123"
        fields = {
            "camera_id": camera_id,
            "captured_at": (datetime.now(UTC) - timedelta(microseconds=n)).isoformat(),
            "text": PLATE,
            "confidence": "0.93",
        }
        form = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        form += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="crop"; filename="crop.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        head = (
            f"POST /v1/reads HTTP/1.1\r\nHost: {host}\r\nX-Camera-Key: {key}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(form) + len(crop) + len(tail)}\r\n\r\n"
        ).encode()
        return [head, form, crop, tail]

    return build


def vendor_read(host: str, vendor: str, images: tuple[bytes, bytes], nonce: str) -> Builder:
    """One read in `vendor`'s format (Axis: a NEW event, each a new vehicle), built by the emulator."""

    def build(camera_id: str, key: str, n: int) -> list[bytes]:
        at = datetime.now(UTC) - timedelta(microseconds=n)
        push: Push = next(pushes(vendor, camera_id, PLATE, at, car=n + 1, images=images))
        return [_head(host, push, camera_id, key, n, nonce).encode(), push.body]

    return build


def _head(host: str, push: Push, camera_id: str, key: str, n: int, nonce: str) -> str:
    path = push.path
    if push.digest:
        nc = f"{n + 1:08x}"
        ha1 = ha1_of("MD5", camera_id, REALM, key)
        answer = response_for("MD5", ha1, nonce, nc, "benchcnonce", "auth", "POST", path)
        credential = (
            f'Digest username="{camera_id}", realm="{REALM}", nonce="{nonce}", uri="{path}", '
            f'algorithm=MD5, qop=auth, nc={nc}, cnonce="benchcnonce", response="{answer}"'
        )
    else:
        credential = "Basic " + base64.b64encode(f"{camera_id}:{key}".encode()).decode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {credential}\r\n"
        f"Content-Type: {push.content_type}\r\nContent-Length: {len(push.body)}\r\n\r\n"
    )


async def register(url: str, issuer: DevIssuer, run: str, vendor: str | None) -> list[tuple[str, str]]:
    admin = {"Authorization": f"Bearer {issuer.issue('bench', Role.ADMIN)}"}
    cameras = []
    async with httpx.AsyncClient(base_url=url) as client:
        for n in range(CAMERAS_PER_FORMAT):
            camera_id = f"bench-{run}-{vendor or 'own'}-{n}"
            body = {"camera_id": camera_id, "name": camera_id, "direction": "in", "kind": "smart"}
            if vendor:
                body["vendor"] = vendor
            response = await client.post("/v1/cameras", json=body, headers=admin)
            response.raise_for_status()
            cameras.append((camera_id, response.json()["api_key"]))
    return cameras


async def nonce_of(url: str) -> str:
    """A Digest nonce from ingest's challenge (good for its lifetime, reused with a growing nc)."""
    async with httpx.AsyncClient(base_url=url) as client:
        challenge = (await client.post("/NotificationInfo/KeepAlive")).headers["www-authenticate"]
    return challenge.split('nonce="', 1)[1].split('"', 1)[0]


async def run(url: str, pid: int, cameras: list[tuple[str, str]], build: Builder) -> dict[str, float]:
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    counted = {"accepted": 0, "refused": 0, "http_errors": 0}
    warm_until = time.monotonic() + WARMUP_SECONDS
    stop_at = warm_until + SECONDS
    cpu_at_start: list[float] = []

    async def worker(w: int) -> None:
        camera_id, key = cameras[w % len(cameras)]
        connection = await asyncio.open_connection(host, int(port))
        n = w
        while time.monotonic() < stop_at:
            if not cpu_at_start and time.monotonic() >= warm_until:
                cpu_at_start.append(cpu_seconds(pid))
            parts = build(camera_id, key, n)
            n += CONCURRENCY
            began = time.monotonic()
            try:
                status, _body, keep_alive = await exchange(*connection, parts)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counted["http_errors"] += 1
                connection = await asyncio.open_connection(host, int(port))
                continue
            if not keep_alive:
                connection[1].close()
                connection = await asyncio.open_connection(host, int(port))
            if status not in (200, 202):
                counted["refused"] += 1
            elif began >= warm_until:
                counted["accepted"] += 1
                latencies.append((time.monotonic() - began) * 1000)
        connection[1].close()

    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
    cpu = cpu_seconds(pid) - (cpu_at_start[0] if cpu_at_start else cpu_seconds(pid))
    accepted = counted["accepted"]
    return {
        "reads_per_s": round(accepted / SECONDS, 1),
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p99_ms": round(percentile(latencies, 99), 1),
        "ingest_cpu_ms_per_read": round(cpu * 1000 / accepted, 2) if accepted else float("nan"),
        "refused": float(counted["refused"]),
        "http_errors": float(counted["http_errors"]),
    }


async def main() -> None:
    infra = infra_env()
    crop, scene = jpeg(160, 40), camera_jpegs(1)[0]
    run_id = uuid.uuid4().hex[:6]
    prefix = f"benchv{run_id}."
    database, database_url = await fresh_database(infra["ANPR_DATABASE_URL"])
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            issuer = DevIssuer(work / "dev-issuer.pem")
            env = {
                "ANPR_KAFKA_BOOTSTRAP": infra["ANPR_KAFKA_BOOTSTRAP"],
                "ANPR_DATABASE_URL": database_url,
                "ANPR_TOPIC_PREFIX": prefix,
                "ANPR_DEV_ISSUER_KEY_PATH": str(work / "dev-issuer.pem"),
                "ANPR_DATA_DIR": str(work),
            }
            with ingest_process(env, work) as (url, pid):
                host = url.removeprefix("http://")
                nonce = await nonce_of(url)
                own = await register(url, issuer, run_id, None)
                results["own_first"] = await run(url, pid, own, own_read(host, crop))
                for vendor in VENDORS:
                    cameras = await register(url, issuer, run_id, vendor)
                    results[vendor] = await run(
                        url, pid, cameras, vendor_read(host, vendor, (crop, scene), nonce)
                    )
                    print(f"bench_vendors: {vendor}: {results[vendor]}", flush=True)
                hikvision = await register(url, issuer, run_id + "c", "hikvision")
                results["hikvision_crop_only"] = await run(
                    url, pid, hikvision, vendor_read(host, "hikvision", (crop, b""), nonce)
                )
                results["own_last"] = await run(url, pid, own, own_read(host, crop))
    finally:
        await drop_database(infra["ANPR_DATABASE_URL"], database)
        await delete_topics(infra["ANPR_KAFKA_BOOTSTRAP"], prefix)
    own_rate = (results["own_first"]["reads_per_s"] + results["own_last"]["reads_per_s"]) / 2
    own_cpu = (
        results["own_first"]["ingest_cpu_ms_per_read"] + results["own_last"]["ingest_cpu_ms_per_read"]
    ) / 2
    metrics: dict[str, float] = {}
    baseline: dict[str, float] = {}
    for name in (*VENDORS, "hikvision_crop_only"):
        metrics[f"{name}_reads_per_s"] = results[name]["reads_per_s"]
        metrics[f"{name}_ingest_cpu_ms_per_read"] = results[name]["ingest_cpu_ms_per_read"]
        metrics[f"{name}_latency_p99_ms"] = results[name]["latency_p99_ms"]
        baseline[f"{name}_reads_per_s"] = own_rate
        baseline[f"{name}_ingest_cpu_ms_per_read"] = own_cpu
    for name in ("own_first", "own_last"):
        for key, value in results[name].items():
            baseline[f"{name}_{key}"] = value
    refused = sum(r["refused"] + r["http_errors"] for r in results.values())
    notes = (
        f"One ingest process on the real Kafka and PostgreSQL, {CONCURRENCY} keep-alive connections, "
        f"{SECONDS:.0f} s per format after {WARMUP_SECONDS:.0f} s warm-up, {CAMERAS_PER_FORMAT} cameras "
        "per format. Baseline: the platform's own POST /v1/reads (form, crop only) before and after the "
        f"vendors ({results['own_first']['reads_per_s']} and {results['own_last']['reads_per_s']} reads/s). "
        f"Vendor reads carry a {len(crop)} B crop and a {len(scene) // 1024} KB 1280x720 scene (base64 "
        "in Dahua, Vaxtor, Genetec, Tattile), each decoded before it is accepted; hikvision_crop_only "
        "is the Hikvision format with the crop alone, like for like with the baseline. Axis: NEW "
        "events, each a new vehicle (its track recorded). Dahua under Digest (MD5, one nonce). "
        f"Refused or failed requests in all runs: {refused:.0f}. Load average at the end: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine is shared)."
    )
    path = write_result("vendors", metrics, baseline, notes)
    print(f"bench_vendors: wrote {path}")


if __name__ == "__main__":
    asyncio.run(main())
