"""What the handlers need of the world, as protocols: the adapters (adapters/) and the fakes of the
tests both fit them, and the handlers import neither."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from anpr_match.domain.entries import HotlistEntry, ListRules, Match, SeenRead


class HotlistChanges(Protocol):
    """One transaction of hotlist changes with the events that announce them: all, or nothing."""

    async def list_exists(self, name: str) -> bool: ...
    async def add_list(self, rules: ListRules, created_by: str, now: datetime) -> None: ...
    async def replace_list(self, rules: ListRules, now: datetime) -> None: ...
    async def entry(self, entry_id: str) -> HotlistEntry | None: ...
    async def add_entry(self, entry: HotlistEntry) -> None: ...
    async def change_entry(self, entry_id: str, changes: Mapping[str, Any]) -> None: ...
    async def add_imported(self, entries: Sequence[HotlistEntry], created_at: datetime) -> None: ...
    async def announce_rules(self, rules: ListRules) -> None: ...
    async def announce_entries(self, entries: Sequence[HotlistEntry]) -> None: ...


class Hotlists(Protocol):
    """The hotlist as stored: lists, entries, and transactions to change them in."""

    def change(self) -> AbstractAsyncContextManager[HotlistChanges]: ...
    async def rules(self, name: str) -> ListRules | None: ...
    async def lists(self) -> list[ListRules]: ...
    async def entry(self, entry_id: str) -> HotlistEntry | None: ...
    async def entries(
        self,
        *,
        plate: str | None = None,
        list_name: str | None = None,
        in_force: bool | None = None,
        now: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[HotlistEntry]: ...
    async def export(self, list_name: str | None = None) -> list[HotlistEntry]: ...


class HitVerdicts(Protocol):
    """One transaction in which an operator's verdict on a hit is recorded."""

    async def hit(self, hit_id: str) -> dict[str, Any] | None: ...
    async def record(self, hit_id: str, verdict: Mapping[str, Any]) -> None: ...
    async def counts(self, list_name: str, camera_id: str) -> tuple[int, int]: ...


class Hits(Protocol):
    """Hits as stored, newest first."""

    async def hit(self, hit_id: str) -> dict[str, Any] | None: ...
    async def latest(
        self,
        *,
        list_name: str | None = None,
        camera_id: str | None = None,
        unacknowledged: bool = False,
        limit: int = 50,
    ) -> list[dict[str, Any]]: ...
    def verdict(self) -> AbstractAsyncContextManager[HitVerdicts]: ...


class HitSink(Protocol):
    """Where raised hits go: stored, then published, before `record` returns."""

    async def record(self, found: Sequence[tuple[SeenRead, Match]], *, from_lookback: bool) -> None: ...
