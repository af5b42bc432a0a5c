"""Video sources: replays a video file, an RTSP stream or a folder of images as one camera, through
ingest's REST API, so it takes exactly the path a real camera's frames take (`anpr camera replay`).

A camera-side client, so it lives with the CLI, not in the ingest service. OpenCV decodes the
video; it comes with the `anpr` command (through anpr-detect) and is imported only when a video is
replayed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
# 503 means "send it again after Retry-After": a replay retries like a camera would, a few times,
# with the same body (capture time included), so a retry is the same event and is never stored twice.
RETRIES_ON_503 = 3
MAX_RETRY_WAIT_S = 5.0


class ReplaySourceError(ValueError):
    """The source cannot be read; the message says which and why."""


@dataclass
class ReplayReport:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "reasons": dict(self.reasons),
        }


def source_frames(source: str, fps: float, limit: int | None = None) -> Iterator[bytes]:
    """Encoded frames of a folder of images (every image, in name order) or a video (sampled at
    `fps` frames per second of video time; every frame when fps is 0). Blocking: run in a thread."""
    count = 0
    path = Path(source)
    if path.is_dir():
        for image in sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            if limit is not None and count >= limit:
                return
            yield image.read_bytes()
            count += 1
        return
    if "://" not in source and not path.exists():
        raise ReplaySourceError(f"{source}: no such file or folder")
    yield from _video_frames(source, fps, limit)


def source_size(source: str, fps: float, limit: int | None = None) -> int | None:
    """How many frames `source_frames` will give, for a progress bar: a folder's images, a video's
    frames sampled at `fps` (as the file's header counts them); None for a stream."""
    path = Path(source)
    if path.is_dir():
        count: int | None = sum(1 for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    elif path.is_file():
        import cv2

        capture = cv2.VideoCapture(source)
        try:
            frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
            source_fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        finally:
            capture.release()
        step = max(1, round(source_fps / fps)) if fps > 0 else 1
        count = -(-frames // step) if frames > 0 else None
    else:
        count = None
    if limit is not None:
        return limit if count is None else min(count, limit)
    return count


def _video_frames(source: str, fps: float, limit: int | None) -> Iterator[bytes]:
    import cv2

    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise ReplaySourceError(f"{source}: OpenCV cannot open it as a video or stream")
    try:
        source_fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        step = max(1, round(source_fps / fps)) if fps > 0 else 1
        index = sent = 0
        while limit is None or sent < limit:
            ok, picture = capture.read()
            if not ok:
                return
            if index % step == 0:
                encoded, buffer = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 90])
                if encoded:
                    yield buffer.tobytes()
                    sent += 1
            index += 1
    finally:
        capture.release()


async def push_frame(
    client: httpx.AsyncClient, camera_id: str, key: str, image: bytes, report: ReplayReport
) -> httpx.Response:
    """Posts one frame as the camera, retrying after a 503's Retry-After; counts the outcome."""
    body, content_type = frame_body(camera_id, datetime.now(UTC), image)
    report.sent += 1
    for attempt in range(RETRIES_ON_503 + 1):
        response = await client.post(
            "/v1/frames", headers={"X-Camera-Key": key, "Content-Type": content_type}, content=body
        )
        if response.status_code != 503 or attempt == RETRIES_ON_503:
            break
        await asyncio.sleep(min(MAX_RETRY_WAIT_S, float(response.headers.get("retry-after", "1"))))
    report.statuses[response.status_code] += 1
    if response.status_code == 202:
        if response.json().get("duplicate"):
            report.duplicates += 1
        else:
            report.accepted += 1
    else:
        report.refused += 1
        report.reasons[refusal_reason(response)] += 1
    return response


def frame_body(camera_id: str, captured_at: datetime, image: bytes) -> tuple[bytes, str]:
    """The multipart/form-data body of POST /v1/frames, built in one go (one copy of the image),
    so a replay or the benchmark pushing hundreds of frames a second spends little on it."""
    boundary = secrets.token_hex(16)
    image_type = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="camera_id"\r\n\r\n{camera_id}\r\n'
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="captured_at"\r\n\r\n{captured_at.isoformat()}\r\n'
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="image"; filename="frame"\r\n'
        f"Content-Type: {image_type}\r\n\r\n"
    ).encode()
    return b"".join((head, image, f"\r\n--{boundary}--\r\n".encode())), (
        f"multipart/form-data; boundary={boundary}"
    )


def refusal_reason(response: httpx.Response) -> str:
    """What a refusal says (problem+json's detail, else its title), short enough to count by."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    return str(body.get("detail") or body.get("title") or response.status_code)[:200]


async def replay(
    client: httpx.AsyncClient,
    source: str,
    camera_id: str,
    key: str,
    *,
    fps: float = 2.0,
    limit: int | None = None,
    on_frame: Callable[[ReplayReport], None] | None = None,
) -> ReplayReport:
    """Pushes the source's frames one after the other, at most `fps` per second (0: no pacing);
    `on_frame` is told the report after each frame (a progress bar).

    `client` has ingest's base URL, e.g. http://127.0.0.1:8080/ingest.
    """
    report = ReplayReport()
    frames = source_frames(source, fps, limit)
    interval = 1.0 / fps if fps > 0 else 0.0
    next_at = time.monotonic()
    while True:
        image = await asyncio.to_thread(next, frames, None)
        if image is None:
            return report
        if interval:
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at = max(next_at + interval, time.monotonic())
        await push_frame(client, camera_id, key, image, report)
        if on_frame is not None:
            on_frame(report)
