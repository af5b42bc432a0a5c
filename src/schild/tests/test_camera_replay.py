"""`anpr camera replay`: a video or a folder of images becomes frames on the frames topic."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image

from anpr.v1 import frame_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_ingest.bootstrap import build_app
from anpr_ingest.settings import IngestSettings
from schild import cli
from schild.camera_replay import ReplayReport, ReplaySourceError, replay, source_size

TOPICS = Topics()


@dataclass
class Harness:
    app: FastAPI
    bus: MemoryBus
    client: httpx.AsyncClient
    key: str

    async def frames(self) -> list[frame_pb2.Frame]:
        consumer = self.bus.consumer([TOPICS.frames], f"reader-{uuid.uuid4()}")
        await consumer.start()
        try:
            records = await consumer.poll(timeout_s=0.01, max_records=1000)
        finally:
            await consumer.stop()
        return [frame_pb2.Frame.FromString(r.value) for r in records]


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[Harness]:
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    engine = make_engine(None, "ingest", tmp_path)
    app = build_app(IngestSettings(data_dir=tmp_path), bus, engine, issuer)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            created = await client.post(
                "/v1/cameras",
                json={"camera_id": "cam-video", "name": "replayed", "direction": "both"},
                headers={"Authorization": f"Bearer {issuer.issue('root', Role.ADMIN)}"},
            )
            yield Harness(app, bus, client, created.json()["api_key"])
    finally:
        await engine.dispose()


def write_video(path: Path, frames: int, fps: float = 10.0, size: tuple[int, int] = (320, 240)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for n in range(frames):
        picture = np.full((size[1], size[0], 3), (n * 10) % 256, dtype=np.uint8)
        cv2.putText(picture, f"1-ABC-{n:03d}", (20, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
        writer.write(picture)
    writer.release()
    return path


async def test_a_video_is_sampled_and_arrives_as_frames(ingest: Harness, tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=20, fps=10)
    assert source_size(str(video), fps=5) == 10, "the progress bar's total: the frames that will be sent"
    seen: list[int] = []

    def shown(so_far: ReplayReport) -> None:
        seen.append(so_far.accepted)

    report = await replay(ingest.client, str(video), "cam-video", ingest.key, fps=5, on_frame=shown)
    assert seen == list(range(1, 11)), "the bar is told after each frame"
    # 2 s of video at 10 fps, sampled at 5 fps: every second frame.
    assert report.as_dict() == {
        "sent": 10,
        "accepted": 10,
        "duplicates": 0,
        "refused": 0,
        "statuses": {"202": 10},
        "reasons": {},
    }
    frames = await ingest.frames()
    assert len(frames) == 10
    assert {(f.camera_id, f.content_type, f.width, f.height) for f in frames} == {
        ("cam-video", "image/jpeg", 320, 240)
    }


async def test_a_folder_of_images_is_replayed_up_to_the_limit(ingest: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for n in range(4):
        buffer = io.BytesIO()
        Image.new("RGB", (200, 100), (n * 40, 0, 0)).save(buffer, format="PNG" if n % 2 else "JPEG")
        (folder / f"{n:02d}.{'png' if n % 2 else 'jpg'}").write_bytes(buffer.getvalue())
    (folder / "notes.txt").write_text("not an image")
    assert (source_size(str(folder), fps=0), source_size(str(folder), fps=0, limit=3)) == (4, 3)
    assert source_size("rtsp://camera.example/stream", fps=2) is None, "a stream has no known length"
    report = await replay(ingest.client, str(folder), "cam-video", ingest.key, fps=0, limit=3)
    assert (report.sent, report.accepted) == (3, 3)
    assert [f.content_type for f in await ingest.frames()] == ["image/jpeg", "image/png", "image/jpeg"]


async def test_refusals_are_counted_not_hidden(ingest: Harness, tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=3)
    report = await replay(ingest.client, str(video), "cam-video", "cam_wrong", fps=0)
    assert (report.sent, report.accepted, report.refused) == (3, 0, 3)
    assert report.statuses == {401: 3}
    assert await ingest.frames() == []


async def test_an_unreadable_source_is_an_error(ingest: Harness, tmp_path: Path) -> None:
    with pytest.raises(ReplaySourceError):
        await replay(ingest.client, str(tmp_path / "missing.avi"), "cam-video", ingest.key)
    (tmp_path / "garbage.avi").write_bytes(b"not a video")
    with pytest.raises(ReplaySourceError):
        await replay(ingest.client, str(tmp_path / "garbage.avi"), "cam-video", ingest.key)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "on-a-terminal"])
async def test_the_cli_replays_against_a_running_ingest(
    ingest: Harness,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
) -> None:
    for name in ("TTY_INTERACTIVE", "TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    if terminal:  # rich's own switches, for a terminal it cannot ask (pytest captures stderr)
        monkeypatch.setenv("TTY_INTERACTIVE", "1")
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
    video = write_video(tmp_path / "clip.avi", frames=6, fps=10)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(ingest.app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes no start event
            await asyncio.sleep(0.02)
        argv = ["camera", "replay", str(video), "--camera", "cam-video", "--key", ingest.key]
        argv += ["--url", f"http://127.0.0.1:{port}", "--fps", "0", "--limit", "4"]
        code = await asyncio.to_thread(cli.main, argv)
    finally:
        server.should_exit = True
        await serving
    assert code == 0
    shown = capsys.readouterr()
    assert json.loads(shown.out.strip().splitlines()[-1])["accepted"] == 4
    if terminal:
        assert (
            "frames to cam-video" in shown.err and "4/4" in shown.err and "4 accepted, 0 refused" in shown.err
        )
    else:
        assert shown.err == "", "no bar where stderr is not a terminal"
    assert len(await ingest.frames()) == 4
