"""The camera register's table and repository (schema `ingest`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, MetaData, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_core.db import UtcDateTime

SCHEMA = "ingest"
metadata = MetaData(schema=SCHEMA)

cameras = Table(
    "cameras",
    metadata,
    Column("camera_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("api_key_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=True),
)


@dataclass(frozen=True)
class Camera:
    camera_id: str
    name: str
    direction: str
    status: str
    api_key_hash: str
    created_at: datetime
    last_seen_at: datetime | None


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
        """Adds the camera; False when the id is taken."""
        async with self._sessions.begin() as session:
            if (
                await session.execute(
                    select(cameras.c.camera_id).where(cameras.c.camera_id == camera.camera_id)
                )
            ).first():
                return False
            await session.execute(cameras.insert().values(**camera.__dict__))
        return True

    async def set_key_hash(self, camera_id: str, api_key_hash: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(cameras).where(cameras.c.camera_id == camera_id).values(api_key_hash=api_key_hash)
            )

    async def touch(self, camera_id: str, seen_at: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(cameras).where(cameras.c.camera_id == camera_id).values(last_seen_at=seen_at)
            )
