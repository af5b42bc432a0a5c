"""Checkpoints, period verification and the COC export, end to end on SQLite, verified offline
with `anpr audit verify` (and `--offline --anchors`: good, tampered and truncated exports)."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_audit.adapters.audit_log import AuditLog
from anpr_audit.adapters.export_check import verify_export
from anpr_audit.adapters.export_file import checkpoint_record
from anpr_audit.adapters.signing import SigningKeyError, load_public_pem, load_signing_key, public_pem
from anpr_audit.bootstrap import build_app
from anpr_audit.domain.actions import LEGAL_ACTIONS
from anpr_audit.domain.chain import COLUMNS, GENESIS, link_hash
from anpr_audit.domain.checkpoints import sign_checkpoint
from anpr_audit.settings import AuditSettings
from anpr_core.auditing import AuditTrail
from anpr_core.auth import DevIssuer, Principal, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_core.settings import Environment
from schild.cli import main as anpr

TOPICS = Topics()
ALICE = Principal("alice", Role.INVESTIGATOR, "5344")


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@dataclass
class Audit:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer
    trail: AuditTrail
    key_path: Path
    engine: AsyncEngine

    def auth(self, role: Role = Role.AUDITOR, subject: str = "coc-inspector") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role)}"}

    async def rows(self, count: int) -> None:
        # Counted in the database: asking /v1/verify would itself add rows (every look is audited).
        deadline = time.monotonic() + 5
        while True:
            stored = await AuditLog(self.engine).count()
            if stored >= count and self.bus.pending() == 0:
                return
            assert time.monotonic() < deadline, stored
            await asyncio.sleep(0.02)

    async def export(self, **params: Any) -> httpx.Response:
        response = await self.client.get("/v1/export", params=params, headers=self.auth())
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
async def audit(tmp_path: Path) -> AsyncIterator[Audit]:
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    engine = make_engine(None, "audit", tmp_path)
    # No background checkpoint in these tests: they count the checkpoints they ask for.
    settings = AuditSettings(data_dir=tmp_path, audit_checkpoint_interval_s=3600)
    app = build_app(settings, bus, engine, issuer)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield Audit(
                client,
                bus,
                issuer,
                AuditTrail(bus, TOPICS.audit, "5344", "access"),
                settings.resolved_signing_key_path(),
                engine,
            )
    finally:
        await engine.dispose()


def test_development_creates_a_private_signing_key_under_the_data_dir(tmp_path: Path) -> None:
    path = AuditSettings(data_dir=tmp_path).resolved_signing_key_path()
    key = load_signing_key(path, create=True)
    assert path.is_relative_to(tmp_path)
    assert path.stat().st_mode & 0o077 == 0
    assert public_pem(load_signing_key(path, create=False).public_key()) == public_pem(key.public_key())


def test_production_requires_a_key_path_and_never_creates_one(tmp_path: Path) -> None:
    production: dict[str, Any] = {
        "env": Environment.PRODUCTION,
        "kafka_bootstrap": "kafka:9092",
        "database_url": "postgresql://schild_app@db/schild",
        "database_owner_url": "postgresql://schild_owner@db/schild",
        "oidc_issuer": "https://idp.example",
        "oidc_jwks_url": "https://idp.example/certs",
        "data_dir": tmp_path,
        "audit_anchor_file": tmp_path / "auditor" / "anchors.jsonl",
        "metrics_token": "prometheus-scrape-token",
    }
    with pytest.raises(ValidationError, match="ANPR_AUDIT_SIGNING_KEY_PATH"):
        AuditSettings(**production)
    missing = tmp_path / "audit-signing.pem"
    settings = AuditSettings(audit_signing_key_path=missing, **production)
    with pytest.raises(SigningKeyError, match="openssl genpkey"):
        build_app(settings, MemoryBus(), make_engine(None, "audit", tmp_path))
    assert not missing.exists()


async def test_public_key_is_published_as_pem(audit: Audit) -> None:
    response = await audit.client.get("/v1/public-key")
    assert response.status_code == 200
    published = load_public_pem(response.text)
    assert public_pem(published) == public_pem(load_signing_key(audit.key_path, create=False).public_key())


async def test_checkpoint_on_demand_signs_the_verified_head(audit: Audit) -> None:
    empty = await audit.client.post("/v1/checkpoints", headers=audit.auth())
    assert empty.status_code == 409
    for n in range(3):
        await audit.trail.record(ALICE, "search", case_reference=f"PV/{n}")
    await audit.rows(4)  # the refused request is a row of the log too
    made = await audit.client.post("/v1/checkpoints", headers=audit.auth(Role.ADMIN))
    assert made.status_code == 201, made.text
    checkpoint = made.json()
    listed = (await audit.client.get("/v1/checkpoints", headers=audit.auth())).json()
    assert listed == [checkpoint]
    verdict = (await audit.client.get("/v1/verify", headers=audit.auth())).json()
    assert verdict["valid"] and verdict["checkpoints_checked"] == 1
    # It signed the verified head of the time: row 4 and its hash. The head has moved on since,
    # since asking for the checkpoint, listing and verifying are rows of the log as well.
    rows = (await audit.client.get("/v1/events", headers=audit.auth())).json()
    assert checkpoint["seq"] == 4 and checkpoint["head_hash"] == rows[3]["row_hash"]
    assert verdict["head_seq"] >= checkpoint["seq"]
    operator = await audit.client.post("/v1/checkpoints", headers=audit.auth(Role.OPERATOR))
    assert operator.status_code == 403


async def test_verify_a_period_starts_from_the_row_before_it(audit: Audit) -> None:
    await audit.trail.record(ALICE, "search", case_reference="PV/early")
    await audit.rows(1)
    middle = datetime.now(UTC)
    await asyncio.sleep(0.01)
    for n in range(3):
        await audit.trail.record(ALICE, "search", case_reference=f"PV/{n}")
    await audit.rows(4)
    params = {"from": middle.isoformat(), "to": (middle + timedelta(hours=1)).isoformat()}
    verdict = (await audit.client.get("/v1/verify", params=params, headers=audit.auth())).json()
    assert verdict["valid"] is True
    assert (verdict["from_seq"], verdict["rows_checked"]) == (2, 3)
    empty = {
        "from": (middle + timedelta(hours=2)).isoformat(),
        "to": (middle + timedelta(hours=3)).isoformat(),
    }
    nothing = (await audit.client.get("/v1/verify", params=empty, headers=audit.auth())).json()
    assert (nothing["valid"], nothing["rows_checked"]) == (True, 0)
    backwards = await audit.client.get(
        "/v1/verify", params={"from": params["to"], "to": params["from"]}, headers=audit.auth()
    )
    assert backwards.status_code == 422
    assert backwards.headers["content-type"] == "application/problem+json"


async def test_jsonl_export_verifies_offline_and_tampering_names_the_row(
    audit: Audit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(5):
        await audit.trail.record(ALICE, "search", case_reference=f"PV/{n}", recipients=["parquet"])
    await audit.rows(5)
    response = await audit.export(format="jsonl")
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["type"] == "header" and records[0]["exported_by"] == "coc-inspector"
    rows = [r for r in records if r["type"] == "row"]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[2]["event"]["case_reference"] == "PV/2"
    assert any(r["type"] == "checkpoint" and r["seq"] == 5 for r in records)

    export = tmp_path / "export.jsonl"
    export.write_text(response.text)
    public_key = tmp_path / "published.pem"
    public_key.write_text((await audit.client.get("/v1/public-key")).text)
    assert anpr(["audit", "verify", str(export), "--public-key", str(public_key)]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 5

    # The readable part says something the signed content does not.
    forged_view = [dict(r) for r in records]
    forged_view[3 + 1]["event"] = {**forged_view[3 + 1]["event"], "case_reference": "PV/other"}
    export.write_text("".join(json.dumps(r) + "\n" for r in forged_view))
    assert anpr(["audit", "verify", str(export)]) == 1
    assert "first broken row: seq" in capsys.readouterr().err

    # The signed content itself changed.
    forged_content = [dict(r) for r in records]
    row3 = next(r for r in forged_content if r.get("seq") == 3 and r["type"] == "row")
    row3["content_b64"] = base64.b64encode(base64.b64decode(row3["content_b64"]) + b"\x00").decode()
    result = verify_export(json.dumps(r) for r in forged_content)
    assert (result.valid, result.first_broken_seq) == (False, 3)

    # Another key: an export re-signed by a forger fails against the published key.
    other = tmp_path / "other.pem"
    other.write_text(public_pem(Ed25519PrivateKey.generate().public_key()))
    export.write_text(response.text)
    assert anpr(["audit", "verify", str(export), "--public-key", str(other)]) == 1
    assert "signature" in capsys.readouterr().err


async def test_the_export_is_itself_audited_and_auditor_only(audit: Audit) -> None:
    await audit.trail.record(ALICE, "search", case_reference="PV/1")
    await audit.rows(1)
    await audit.export(format="jsonl")
    await audit.rows(2)
    exports = (await audit.client.get("/v1/events", params={"action": "export"}, headers=audit.auth())).json()
    assert len(exports) == 1
    assert (exports[0]["actor_user"], exports[0]["actor_role"], exports[0]["service"]) == (
        "coc-inspector",
        "auditor",
        "audit",
    )
    full = [json.loads(line) for line in (await audit.export()).text.splitlines()]
    stored = next(r for r in full if r["type"] == "row" and r["event"]["action"] == "export")
    assert stored["event"]["recipients"] == ["coc-inspector"]
    assert stored["event"]["record_count"] == 1
    for role in (Role.ADMIN, Role.DPO, Role.INVESTIGATOR):
        assert (await audit.client.get("/v1/export", headers=audit.auth(role))).status_code == 403


async def test_csv_export_carries_rows_checkpoints_and_key(audit: Audit) -> None:
    for n in range(2):
        await audit.trail.record(ALICE, "view_image", case_reference=f"PV/{n}")
    await audit.rows(2)
    response = await audit.export(format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    kinds = [row["kind"] for row in table]
    assert kinds[0] == "header" and kinds.count("checkpoint") >= 1 and kinds.count("row") == 2
    rows = [row for row in table if row["kind"] == "row"]
    assert [row["action"] for row in rows] == ["view_image", "view_image"]
    assert all(len(row["row_hash"]) == 64 and row["content_b64"] for row in rows)
    assert load_public_pem(base64.b64decode(table[0]["content_b64"]))


async def test_an_unknown_action_is_appended_never_refused_and_counted(audit: Audit) -> None:
    def counted() -> float:
        return REGISTRY.get_sample_value("anpr_audit_unknown_actions_total", {"service": "access"}) or 0.0

    before = counted()
    await audit.trail.record(ALICE, "teleport", case_reference="PV/odd")
    for action in LEGAL_ACTIONS:
        await audit.trail.record(ALICE, action, case_reference="PV/known")
    await audit.rows(1 + len(LEGAL_ACTIONS))
    assert counted() == before + 1
    rows = (await audit.client.get("/v1/events", params={"action": "teleport"}, headers=audit.auth())).json()
    assert [row["case_reference"] for row in rows] == ["PV/odd"]


# --- the COC's offline check: the export, the anchors and the public key alone ------------------


@dataclass
class Handed:
    """What the COC holds: the export, the auditor's anchor file and the key kept earlier."""

    export: Path
    anchors: Path
    key: Path
    records: list[dict[str, Any]]

    def write(self, records: list[dict[str, Any]]) -> None:
        self.export.write_text("".join(json.dumps(r) + "\n" for r in records))

    def verify(self, *extra: str) -> int:
        return anpr(
            [
                "audit",
                "verify",
                "--offline",
                str(self.export),
                "--anchors",
                str(self.anchors),
                "--public-key",
                str(self.key),
                *extra,
            ]
        )


async def _handed_over(audit: Audit, tmp_path: Path) -> Handed:
    for n in range(3):
        await audit.trail.record(ALICE, "search", case_reference=f"PV/{n}")
    await audit.rows(3)
    assert (await audit.client.post("/v1/checkpoints", headers=audit.auth())).status_code == 201
    for n in range(3, 6):
        await audit.trail.record(ALICE, "search", case_reference=f"PV/{n}")
    await audit.rows(7)
    response = await audit.export(format="jsonl")
    handed = Handed(
        tmp_path / "export.jsonl",
        tmp_path / "audit" / "anchors.jsonl",  # the service's anchor file, under its data dir here
        tmp_path / "published.pem",
        [json.loads(line) for line in response.text.splitlines()],
    )
    handed.export.write_text(response.text)
    handed.key.write_text((await audit.client.get("/v1/public-key")).text)
    return handed


async def test_offline_an_export_checked_against_the_anchors_verifies(
    audit: Audit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handed = await _handed_over(audit, tmp_path)
    assert handed.verify() == 0
    result = json.loads(capsys.readouterr().out)
    # The on-demand checkpoint and the export's closing one are both in the anchor file.
    assert (result["valid"], result["rows"], result["anchors"]) == (True, 7, 2)
    assert result["checkpoints"] == 2


async def test_offline_an_edited_stored_column_is_named(
    audit: Audit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handed = await _handed_over(audit, tmp_path)
    records = [dict(r) for r in handed.records]
    row = next(r for r in records if r["type"] == "row" and r["seq"] == 2)
    row["actor_user"] = "someone-else"
    handed.write(records)
    assert handed.verify() == 1
    assert "first broken row: seq 2" in capsys.readouterr().err
    # Re-hashed from there on by whoever made the export: the anchors still tell.
    rehashed = _rehashed(records, first=2)
    handed.write(rehashed)
    assert handed.verify() == 1
    assert "first broken row: seq 3: the chain was rewritten" in capsys.readouterr().err


async def test_offline_a_truncated_export_is_found_by_the_anchors(
    audit: Audit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handed = await _handed_over(audit, tmp_path)
    # Cut the last rows, as a careless copy would: the header still says where it ended.
    kept = [r for r in handed.records if r["type"] != "row" or r["seq"] <= 5]
    handed.write(kept)
    assert handed.verify() == 1
    assert "first broken row: seq 6: truncated: the header says the export ends at seq 7" in (
        capsys.readouterr().err
    )
    # A careful cut (header and closing checkpoint too) is shown by the anchor file alone.
    careful = [dict(r) for r in kept if r["type"] != "checkpoint" or r["seq"] <= 5]
    careful[0]["last_seq"] = 5
    handed.write(careful)
    export_only = anpr(["audit", "verify", str(handed.export), "--public-key", str(handed.key)])
    assert export_only == 1, "without its closing checkpoint the export does not vouch for itself"
    capsys.readouterr()
    careful_checkpoint = [*careful, _signed_by_hand(careful, audit.key_path)]
    handed.write(careful_checkpoint)
    assert handed.verify() == 1
    err = capsys.readouterr().err
    assert "first broken row: seq 6: truncated: an anchor" in err and "covers seq 7" in err


async def test_offline_bad_input_is_a_clear_error(
    audit: Audit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handed = await _handed_over(audit, tmp_path)
    assert anpr(["audit", "verify", "--offline", str(handed.export)]) == 2
    assert "need --public-key" in capsys.readouterr().err
    not_anchors = tmp_path / "not-anchors.txt"
    not_anchors.write_text("hello\n")
    assert (
        anpr(
            [
                "audit",
                "verify",
                "--offline",
                str(handed.export),
                "--anchors",
                str(not_anchors),
                "--public-key",
                str(handed.key),
            ]
        )
        == 2
    )
    assert "line 1" in capsys.readouterr().err
    assert (
        anpr(
            [
                "audit",
                "verify",
                "--offline",
                str(handed.export),
                "--anchors",
                str(handed.export),
                "--public-key",
                str(handed.key),
            ]
        )
        == 2
    )
    assert "not an anchor record" in capsys.readouterr().err
    assert (
        anpr(
            [
                "audit",
                "verify",
                "--offline",
                str(tmp_path / "missing.jsonl"),
                "--anchors",
                str(handed.anchors),
                "--public-key",
                str(handed.key),
            ]
        )
        == 2
    )
    assert "cannot read the export" in capsys.readouterr().err
    assert (
        anpr(
            [
                "audit",
                "verify",
                "--offline",
                str(handed.export),
                "--anchors",
                str(handed.anchors),
                "--public-key",
                str(handed.export),
            ]
        )
        == 2
    )
    assert "not an Ed25519 public key" in capsys.readouterr().err
    old_format = [dict(r) for r in handed.records]
    old_format[0]["format"] = "schild-audit-export/1"
    handed.write(old_format)
    assert handed.verify() == 2
    assert "earlier Schild version" in capsys.readouterr().err


def _rehashed(records: list[dict[str, Any]], first: int) -> list[dict[str, Any]]:
    """The rows from `first` on hashed again, as a forger who knows the format would."""
    out = [dict(r) for r in records]
    rows = {r["seq"]: r for r in out if r["type"] == "row"}
    previous = rows[first - 1]["row_hash"] if first > 1 else GENESIS
    for seq in sorted(s for s in rows if s >= first):
        row = rows[seq]
        row["previous_hash"] = previous
        row["row_hash"] = link_hash(
            previous,
            seq,
            row["appended_us"],
            base64.b64decode(row["content_b64"]),
            occurred_us=row["occurred_us"],
            columns=tuple(row[name] for name in COLUMNS),
        )
        previous = row["row_hash"]
    return out


def _signed_by_hand(records: list[dict[str, Any]], key_path: Path) -> dict[str, Any]:
    """A closing checkpoint on the cut export's last row, signed by a writer who holds the key."""
    last = max((r for r in records if r["type"] == "row"), key=lambda r: r["seq"])
    key = load_signing_key(key_path, create=False)
    return checkpoint_record(sign_checkpoint(key, last["seq"], last["row_hash"], last["appended_us"] + 1))
