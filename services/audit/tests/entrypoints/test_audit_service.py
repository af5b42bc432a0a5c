"""The audit service on SQLite: appends what the bus carries, once, verifiably; every look at it
(reading, verifying, checkpoints) is audited; a wiped log shows against the anchor file; an old
development log is a clear verify break."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import audit_pb2, dlq_pb2
from anpr_audit.adapters.anchors import read_anchor_lines
from anpr_audit.adapters.audit_log import AuditLog
from anpr_audit.adapters.migrations import HISTORY
from anpr_audit.adapters.tables import audit_log, checkpoints
from anpr_audit.bootstrap import build_app
from anpr_audit.domain.chain import GENESIS, link_hash_v1, micros
from anpr_audit.settings import AuditSettings
from anpr_core.auditing import AuditTrail
from anpr_core.auth import DevIssuer, Principal, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_core.migrations import upgrade
from anpr_core.testing import eventually, read_topic

TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"
ALICE = Principal("alice", Role.INVESTIGATOR, "5344")


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@dataclass
class Audit:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer
    engine: AsyncEngine
    trail: AuditTrail

    def auth(self, role: Role = Role.AUDITOR, subject: str = "carol") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role)}"}

    async def verify(self) -> dict[str, Any]:
        response = await self.client.get("/v1/verify", headers=self.auth())
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def rows(self, count: int) -> None:
        # Counted in the database: asking /v1/verify would itself add rows (every look is audited).
        async def has_rows() -> bool:
            return await AuditLog(self.engine).count() >= count

        await eventually(has_rows)

    async def events(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/v1/events", params=params, headers=self.auth())
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result

    async def idle(self) -> None:
        async def nothing_pending() -> bool:
            return self.bus.pending() == 0

        await eventually(nothing_pending)


@asynccontextmanager
async def _running(data_dir: Path, **settings: Any) -> AsyncIterator[Audit]:
    bus = MemoryBus()
    issuer = DevIssuer(data_dir / "key.pem")
    engine = make_engine(None, "audit", data_dir)
    app = build_app(AuditSettings(data_dir=data_dir, **settings), bus, engine, issuer)
    trail = AuditTrail(bus, TOPICS.audit, "5344", "access")
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield Audit(client, bus, issuer, engine, trail)
    finally:
        await engine.dispose()


@pytest.fixture
async def audit(tmp_path: Path) -> AsyncIterator[Audit]:
    async with _running(tmp_path) as running:
        yield running


async def test_events_on_the_bus_are_appended_and_the_chain_verifies(audit: Audit) -> None:
    published = [
        await audit.trail.record(ALICE, "search", purpose="judicial", case_reference=f"PV/{n}")
        for n in range(5)
    ]
    await audit.rows(5)
    result = await audit.verify()
    assert result["valid"] is True
    assert result["rows_checked"] == 5
    assert result["first_broken_seq"] is None
    assert len(result["head_hash"]) == 64

    events = await audit.events(actor="alice")
    assert sorted(e["event_id"] for e in events) == sorted(p.meta.event_id for p in published)
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    first = next(e for e in events if e["event_id"] == published[0].meta.event_id)
    assert first["case_reference"] == "PV/0"
    assert (first["actor_role"], first["action"], first["service"], first["outcome"]) == (
        "investigator",
        "search",
        "access",
        "allowed",
    )
    assert [e["event_id"] for e in await audit.events(case_reference="PV/3")] == [published[3].meta.event_id]


async def test_a_redelivered_event_is_appended_once(audit: Audit) -> None:
    event = await audit.trail.record(ALICE, "hotlist_change", case_reference="PV/9")
    await audit.bus.publish(TOPICS.audit, b"alice", event.SerializeToString())
    await audit.bus.publish(TOPICS.audit, b"replay", event.SerializeToString())
    await audit.idle()
    result = await audit.verify()
    assert (result["valid"], result["rows_checked"]) == (True, 1)
    assert [e["event_id"] for e in await audit.events(action="hotlist_change")] == [event.meta.event_id]


async def test_reading_the_log_is_itself_audited(audit: Audit) -> None:
    event = await audit.trail.record(ALICE, "search", case_reference="PV/1")
    await audit.rows(1)
    listed = await audit.events(case_reference="PV/1")
    assert [e["event_id"] for e in listed] == [event.meta.event_id]

    await audit.rows(2)
    searches = await audit.events(actor="carol", action="search")
    assert len(searches) >= 1
    own = searches[0]
    assert (own["actor_role"], own["service"], own["outcome"]) == ("auditor", "audit", "allowed")
    # The row records what the auditor saw.
    async with audit.engine.connect() as conn:
        content = (
            (await conn.execute(audit_log.select().where(audit_log.c.event_id == own["event_id"])))
            .one()
            ._mapping["content"]
        )
    stored = audit_pb2.AuditEvent()
    stored.ParseFromString(content)
    assert list(stored.record_ids) == [event.meta.event_id]
    assert stored.purpose == "audit"
    assert (await audit.verify())["valid"] is True


async def test_only_auditors_read_the_log(audit: Audit) -> None:
    await audit.trail.record(ALICE, "search", case_reference="PV/1")
    await audit.rows(1)
    for role in (r for r in Role if r is not Role.AUDITOR):
        response = await audit.client.get("/v1/events", headers=audit.auth(role, "mallory"))
        assert response.status_code == 403, role
        assert response.headers["content-type"] == PROBLEM_JSON
    anonymous = await audit.client.get("/v1/events")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM_JSON
    await audit.idle()
    # Each refused attempt (five roles, one anonymous) is itself audited, as refused.
    await audit.rows(7)
    refused = await audit.events(action="read_audit")
    assert len(refused) == 6
    assert {row["outcome"] for row in refused} == {"refused"}
    assert {row["actor_user"] for row in refused} == {"mallory", "anonymous"}
    investigator = await audit.client.get("/v1/verify", headers=audit.auth(Role.INVESTIGATOR))
    assert investigator.status_code == 403
    for role in (Role.ADMIN, Role.DPO):
        assert (await audit.client.get("/v1/verify", headers=audit.auth(role))).json()["valid"] is True


async def test_tampering_in_the_database_is_reported_by_verify(audit: Audit) -> None:
    for n in range(4):
        await audit.trail.record(ALICE, "search", case_reference=f"PV/{n}")
    await audit.rows(4)
    async with audit.engine.begin() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(content=b"forged"))
    result = await audit.verify()
    assert result["valid"] is False
    assert result["first_broken_seq"] == 3
    assert result["rows_checked"] == 2


async def test_event_without_id_is_dead_lettered_and_the_next_is_appended(audit: Audit) -> None:
    broken = audit.trail.event(ALICE, "search")
    broken.meta.event_id = ""
    await audit.bus.publish(TOPICS.audit, b"alice", broken.SerializeToString())
    good = await audit.trail.record(ALICE, "search", case_reference="PV/ok")
    await audit.rows(1)
    await audit.idle()
    assert (await audit.verify())["rows_checked"] == 1
    letters = await read_topic(audit.bus, TOPICS.dlq)
    assert len(letters) == 1
    letter = dlq_pb2.DeadLetter()
    letter.ParseFromString(letters[0].value)
    assert letter.original_topic == TOPICS.audit
    assert "event_id" in letter.reason
    assert [e["event_id"] for e in await audit.events(case_reference="PV/ok")] == [good.meta.event_id]


async def test_verifying_and_reading_checkpoints_are_audited_with_who_and_why(audit: Audit) -> None:
    await audit.trail.record(ALICE, "search", case_reference="PV/1")
    await audit.rows(1)
    why = {"case_reference": "COC-2026-17"}
    verified = await audit.client.get("/v1/verify", params=why, headers=audit.auth(Role.DPO, "dora"))
    assert verified.json()["valid"] is True
    signed = await audit.client.post("/v1/checkpoints", params=why, headers=audit.auth(Role.ADMIN, "adam"))
    assert signed.status_code == 201
    listed = await audit.client.get("/v1/checkpoints", params=why, headers=audit.auth())
    assert [c["seq"] for c in listed.json()] == [signed.json()["seq"]]
    await audit.rows(4)
    rows = {row["action"]: row for row in await audit.events(case_reference="COC-2026-17")}
    assert {a: (r["actor_user"], r["actor_role"], r["outcome"]) for a, r in rows.items()} == {
        "audit_verify": ("dora", "dpo", "allowed"),
        "audit_checkpoint": ("adam", "admin", "allowed"),
        "audit_checkpoints": ("carol", "auditor", "allowed"),
    }
    stored = {action: await _content(audit, row["event_id"]) for action, row in rows.items()}
    assert {event.purpose for event in stored.values()} == {"audit"}
    assert "valid=True" in stored["audit_verify"].detail
    assert stored["audit_checkpoint"].target == f"checkpoint/{signed.json()['seq']}"
    assert list(stored["audit_checkpoints"].record_ids) == [f"checkpoint/{signed.json()['seq']}"]
    # Refused looks are audited too, under the action that was refused.
    assert (
        await audit.client.get("/v1/checkpoints", headers=audit.auth(Role.OPERATOR, "otto"))
    ).status_code == 403
    await audit.rows(6)
    refused = await audit.events(actor="otto")
    assert [(r["action"], r["outcome"]) for r in refused] == [("verify_audit", "refused")]


async def test_no_checkpoint_is_signed_over_an_empty_log_or_a_broken_chain(audit: Audit) -> None:
    empty = await audit.client.post("/v1/checkpoints", headers=audit.auth())
    assert (empty.status_code, empty.headers["content-type"]) == (409, PROBLEM_JSON)
    assert empty.json()["title"] == "Empty log"
    assert empty.json()["detail"] == "the log holds no rows yet; there is no head to sign"
    for n in range(3):
        await audit.trail.record(ALICE, "search", case_reference=f"PV/{n}")
    await audit.rows(4)  # the refused request is a row of the log too
    async with audit.engine.begin() as conn:
        forged = (
            await conn.execute(select(audit_log.c.seq).where(audit_log.c.case_reference == "PV/1"))
        ).scalar_one()
        await conn.execute(update(audit_log).where(audit_log.c.seq == forged).values(content=b"forged"))
    broken = await audit.client.post("/v1/checkpoints", headers=audit.auth())
    assert (broken.status_code, broken.headers["content-type"]) == (409, PROBLEM_JSON)
    assert broken.json()["title"] == "Chain broken"
    assert broken.json()["detail"].startswith(f"the chain does not verify (row {forged}: ")
    assert broken.json()["detail"].endswith("no checkpoint is signed over a broken chain")
    # Each refusal is audited with why, and nothing was signed.
    await audit.rows(5)
    refusals = await audit.events(action="audit_checkpoint")
    details = [(await _content(audit, row["event_id"])).detail for row in refusals]
    assert details == [f"none signed: {empty.json()['detail']}", f"none signed: {broken.json()['detail']}"]
    assert (await audit.client.get("/v1/checkpoints", headers=audit.auth())).json() == []


async def test_a_wiped_embedded_log_is_reported_by_the_anchor_file(audit: Audit, tmp_path: Path) -> None:
    for n in range(3):
        await audit.trail.record(ALICE, "search", case_reference=f"PV/{n}")
    await audit.rows(3)
    assert (await audit.client.post("/v1/checkpoints", headers=audit.auth())).status_code == 201
    assert (tmp_path / "audit" / "anchors.jsonl").read_text().count("\n") == 1
    await audit.idle()
    async with audit.engine.begin() as conn:  # SQLite has no guard: whoever holds the file can do this
        await conn.execute(delete(audit_log))
        await conn.execute(delete(checkpoints))
    result = await audit.verify()
    assert (result["valid"], result["rows_checked"], result["first_broken_seq"]) == (False, 0, 1)
    assert "wiped" in result["reason"] and "anchors.jsonl" in result["reason"]


async def test_an_old_development_log_is_a_clear_verify_break_not_a_crash(tmp_path: Path) -> None:
    # A var/audit.db written before every column was hashed (the first chain format).
    engine = make_engine(None, "audit", tmp_path)
    await upgrade(engine, HISTORY)
    event = AuditTrail(MemoryBus(), TOPICS.audit, "5344", "access").event(ALICE, "search")
    content = event.SerializeToString(deterministic=True)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            audit_log.insert().values(
                seq=1,
                event_id=event.meta.event_id,
                occurred_at=now,
                appended_at=now,
                actor_user="alice",
                actor_role="investigator",
                action="search",
                service="access",
                outcome="allowed",
                case_reference="",
                content=content,
                previous_hash=GENESIS,
                row_hash=link_hash_v1(GENESIS, 1, micros(now), content),
            )
        )
    await engine.dispose()
    async with _running(tmp_path) as audit:
        result = await audit.verify()
        assert (result["valid"], result["first_broken_seq"]) == (False, 1)
        assert "earlier Schild version" in result["reason"]
        # The service runs on: it appends, and its reads answer.
        await audit.trail.record(ALICE, "search", case_reference="PV/new")
        await audit.rows(3)
        assert [e["case_reference"] for e in await audit.events(case_reference="PV/new")] == ["PV/new"]


async def _content(audit: Audit, event_id: str) -> audit_pb2.AuditEvent:
    async with audit.engine.connect() as conn:
        content = (
            await conn.execute(select(audit_log.c.content).where(audit_log.c.event_id == event_id))
        ).scalar_one()
    stored = audit_pb2.AuditEvent()
    stored.ParseFromString(content)
    return stored


async def test_the_service_anchors_the_moved_head_at_its_interval(tmp_path: Path) -> None:
    anchors = tmp_path / "auditor" / "anchors.jsonl"
    async with _running(tmp_path, audit_checkpoint_interval_s=0.05, audit_anchor_file=anchors) as audit:
        for n in range(3):
            await audit.trail.record(ALICE, "search", case_reference=f"PV/{n}")
        await audit.rows(3)
        head_seq, head_hash = await AuditLog(audit.engine).head()

        async def anchored() -> bool:
            lines = read_anchor_lines(anchors.read_text().splitlines(), "file") if anchors.exists() else []
            return any((a.seq, a.head_hash) == (head_seq, head_hash) for a in lines)

        await eventually(anchored)


async def test_reading_rows_with_a_time_without_offset_is_a_clear_422(audit: Audit) -> None:
    for params in ({"since": "2026-03-01T00:00:00"}, {"until": "2026-03-01T00:00:00"}):
        response = await audit.client.get("/v1/events", params=params, headers=audit.auth())
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "time zone" in response.json()["detail"]
    backwards = {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}
    response = await audit.client.get("/v1/events", params=backwards, headers=audit.auth())
    assert response.status_code == 422 and "`since` must be before `until`" in response.json()["detail"]
