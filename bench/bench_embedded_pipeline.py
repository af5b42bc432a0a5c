"""End-to-end benchmark of the embedded pipeline: frames per second, and latency from frame to hit.

Baseline, measured in the same run: the bare plate reader on the same frames, one after the
other, with no HTTP, bus or database. The ratio shows what the platform around the reader costs.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from anpr.v1 import hit_pb2
from anpr_core.auth import Role
from anpr_core.bus import Record
from anpr_core.consume import ConsumerWorker
from anpr_core.events import Topics
from anpr_detect.adapters.images import decode_image
from anpr_detect.adapters.ocr import RapidOcrPlateReader
from anpr_detect_training.synthetic import render_scene
from bench.common import percentile, write_result
from schild.embedded import build_platform, running
from schild.sample import DEMO_CAMERA, _camera_key, _hotlist

FRAMES = int(os.environ.get("BENCH_FRAMES", "40"))
HOTLISTED = "1ABC234"


def _frames() -> list[bytes]:
    # Every frame shows the hotlisted plate, so each one must produce a hit.
    return [render_scene(HOTLISTED, seed=1000 + n) for n in range(FRAMES)]


def baseline(frames: list[bytes]) -> dict[str, float]:
    reader = RapidOcrPlateReader(threads=2)
    reader.read(decode_image(frames[0]))  # warm-up
    timings = []
    started = time.perf_counter()
    for frame in frames:
        t0 = time.perf_counter()
        reader.read(decode_image(frame))
        timings.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    return {
        "frames_per_s": round(len(frames) / elapsed, 3),
        "latency_p50_ms": round(percentile(timings, 50), 1),
        "latency_p95_ms": round(percentile(timings, 95), 1),
    }


async def pipeline(frames: list[bytes]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        platform = build_platform(Path(data_dir))
        async with running(platform):
            topics = Topics()
            posted_at: dict[int, float] = {}
            latencies: list[float] = []

            async def on_hit(record: Record) -> None:
                hit = hit_pb2.Hit()
                hit.ParseFromString(record.value)
                latencies.append((time.perf_counter() - posted_at[hit.captured_at.nanos]) * 1000)

            watcher = ConsumerWorker(
                platform.bus,
                topics=[topics.hits],
                group_id="bench",
                handler=on_hit,
                dlq_topic=topics.dlq,
                service="bench",
                zone_id="",
            )
            watcher.start()
            admin = {"Authorization": f"Bearer {platform.issuer.issue('bench', Role.ADMIN)}"}
            supervisor = {"Authorization": f"Bearer {platform.issuer.issue('bench', Role.SUPERVISOR)}"}
            transport = httpx.ASGITransport(app=platform.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                key = await _camera_key(client, admin)
                await _hotlist(client, supervisor, HOTLISTED)
                started = time.perf_counter()
                for n, frame in enumerate(frames):
                    # The capture time's nanoseconds carry the frame number back on the hit.
                    captured = datetime.now(UTC).replace(microsecond=n)
                    posted_at[n * 1000] = time.perf_counter()
                    response = await client.post(
                        "/ingest/v1/frames",
                        data={"camera_id": DEMO_CAMERA, "captured_at": captured.isoformat()},
                        files={"image": ("f.jpg", frame, "image/jpeg")},
                        headers={"X-Camera-Key": key},
                    )
                    response.raise_for_status()
                if not await platform.wait_until_idle(timeout_s=600, settle_s=0.0):
                    raise RuntimeError("the pipeline did not drain within 600 s")
                elapsed = time.perf_counter() - started
            await watcher.stop()
    return {
        "frames_per_s": round(len(frames) / elapsed, 3),
        "latency_p50_ms": round(percentile(latencies, 50), 1),
        "latency_p95_ms": round(percentile(latencies, 95), 1),
        "hits": float(len(latencies)),
        "frames": float(len(frames)),
    }


def main() -> None:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    frames = _frames()
    base = baseline(frames)
    measured = asyncio.run(pipeline(frames))
    path = write_result(
        "embedded_pipeline",
        measured,
        base,
        notes=(
            f"{FRAMES} synthetic 1280x720 frames of one hotlisted Belgian plate, posted back to back to "
            "ingest's REST endpoint in process; latency is frame posted -> hit consumed, so it includes "
            "queueing behind earlier frames. Baseline: the bare reader, serial, same frames."
        ),
    )
    sys.stdout.write(f"{path}\n{path.read_text()}")


if __name__ == "__main__":
    main()
