"""The camera register in PostgreSQL (or SQLite, embedded): ingest.cameras."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_core.db import insert_ignoring_duplicates
from anpr_ingest.adapters.tables import cameras
from anpr_ingest.domain.camera_auth import DigestSecrets
from anpr_ingest.domain.cameras import Camera


class CameraRegister:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, camera_id: str) -> Camera | None:
        async with self._sessions() as session:
            row = (await session.execute(select(cameras).where(cameras.c.camera_id == camera_id))).first()
        return Camera(**row._mapping) if row else None

    async def list(self) -> list[Camera]:
        async with self._sessions() as session:
            rows = (await session.execute(select(cameras).order_by(cameras.c.camera_id))).all()
        return [Camera(**row._mapping) for row in rows]

    async def add(self, camera: Camera) -> bool:
        """Adds the camera; False when the id is taken (also when another replica just took it)."""
        async with self._sessions.begin() as session:
            return await insert_ignoring_duplicates(session, cameras, [dataclasses.asdict(camera)]) == 1

    async def save(self, camera: Camera) -> None:
        """Writes every field but the key's secrets and last-seen time, which have their own writers."""
        fields = dataclasses.asdict(camera)
        own_writers = ("camera_id", "api_key_hash", "digest_ha1_md5", "digest_ha1_sha256", "last_seen_at")
        for own_writer in (*own_writers, "created_at"):
            fields.pop(own_writer)
        async with self._sessions.begin() as session:
            await session.execute(
                update(cameras).where(cameras.c.camera_id == camera.camera_id).values(**fields)
            )

    async def set_key(self, camera_id: str, secrets: DigestSecrets) -> None:
        """The key's hash and Digest HA1s, written together (rotation), or cleared (revocation)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(cameras)
                .where(cameras.c.camera_id == camera_id)
                .values(
                    api_key_hash=secrets.api_key_hash,
                    digest_ha1_md5=secrets.ha1_md5,
                    digest_ha1_sha256=secrets.ha1_sha256,
                )
            )

    async def touch(self, camera_id: str, seen_at: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(cameras)
                .where(cameras.c.camera_id == camera_id)
                .where((cameras.c.last_seen_at.is_(None)) | (cameras.c.last_seen_at < seen_at))
                .values(last_seen_at=seen_at)
            )
