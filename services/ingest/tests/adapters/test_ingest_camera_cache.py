"""The per-replica camera cache: served within its TTL, one lookup per camera at a time, refreshed
ahead of expiry, and never serving a record read before an eviction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from anpr_ingest.adapters.camera_cache import CameraCache
from anpr_ingest.domain.cameras import Camera

NOW = datetime(2026, 11, 28, 20, 15, tzinfo=UTC)


class CountingRegister:
    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.lookups = 0

    async def get(self, camera_id: str) -> Camera | None:
        self.lookups += 1
        await asyncio.sleep(0.01)
        return self.camera if camera_id == self.camera.camera_id else None


CAMERA = Camera("cam-1", "x", "in", "active", "hash-1", NOW, None)


async def test_cache_serves_within_the_ttl_and_looks_up_once_for_concurrent_misses() -> None:
    clock = [0.0]
    register = CountingRegister(CAMERA)
    cache = CameraCache(register, ttl_s=5, clock=lambda: clock[0])  # type: ignore[arg-type]
    results = await asyncio.gather(*(cache.get("cam-1") for _ in range(10)))
    assert results == [CAMERA] * 10
    assert register.lookups == 1
    clock[0] = 4.9
    await cache.get("cam-1")
    assert register.lookups == 1
    clock[0] = 5.1
    await cache.get("cam-1")
    assert register.lookups == 2
    assert await cache.get("cam-404") is None
    assert await cache.get("cam-404") is None
    assert register.lookups == 4, "unknown cameras are not cached"


async def test_eviction_wins_over_a_lookup_that_was_running() -> None:
    register = CountingRegister(CAMERA)
    cache = CameraCache(register, ttl_s=60)  # type: ignore[arg-type]
    running = asyncio.ensure_future(cache.get("cam-1"))
    await asyncio.sleep(0)
    cache.evict("cam-1")  # e.g. the key was rotated while the old record was being read
    register.camera = Camera("cam-1", "x", "in", "active", "hash-2", NOW, None)
    await running
    fresh = await cache.get("cam-1")
    assert fresh is not None and fresh.api_key_hash == "hash-2"


async def test_a_busy_cameras_entry_is_refreshed_before_it_expires_and_never_served_past_it() -> None:
    clock = [0.0]
    register = CountingRegister(CAMERA)
    cache = CameraCache(register, ttl_s=5, clock=lambda: clock[0])  # type: ignore[arg-type]
    await cache.get("cam-1")
    clock[0] = 4.5  # in the last fifth of its life: served at once, read again in the background
    register.camera = Camera("cam-1", "x", "in", "active", "hash-2", NOW, None)
    served = await cache.get("cam-1")
    assert served is not None and served.api_key_hash == "hash-1"
    await asyncio.sleep(0.05)
    assert register.lookups == 2
    clock[0] = 9.4  # past the first entry's TTL, within the refreshed one's: no wait, no lookup
    refreshed = await cache.get("cam-1")
    assert refreshed is not None and refreshed.api_key_hash == "hash-2"
    assert register.lookups == 2
    clock[0] = 9.6  # the refreshed entry's TTL counts from when its lookup began
    register.camera = Camera("cam-1", "x", "in", "active", "hash-3", NOW, None)
    latest = await cache.get("cam-1")
    assert latest is not None and latest.api_key_hash == "hash-3"
