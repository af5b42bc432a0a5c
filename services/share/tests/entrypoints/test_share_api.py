"""Share over HTTP: the agreements (an admin makes, changes and revokes them, each change audited;
the supervisor and the DPO read them), refusals as problem+json."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from anpr_core.auth import Role
from anpr_share.testing import zone_factory

pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@pytest.fixture
async def zones(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`await zones("5344", "5388")`: those zones' share services, running, on one exchange."""
    async with zone_factory(tmp_path) as start:
        yield start


PROBLEM_JSON = "application/problem+json"


async def test_an_admin_makes_an_agreement_and_the_supervisor_and_dpo_read_it(
    zones: Callable[..., Any],
) -> None:
    (zone,) = await zones("5344")
    made = await zone.agree(
        "5388",
        reads={
            "border_cameras": True,
            "camera_ids": ["cam-e40-in"],
            "fields": ["plate", "time", "camera", "crop"],
        },
        hotlists={"list_names": ["stolen"]},
        inbound={"reads": True},
    )
    assert made["status"] == "active" and made["partner_zone_id"] == "5388"
    assert made["reads"] == {
        "camera_ids": ["cam-e40-in"],
        "border_cameras": True,
        "fields": ["camera", "crop", "plate", "time"],
    }
    assert made["topics"] == {
        "shared_reads": "zone.5344.5388.reads.v1",
        "shared_hotlist": "zone.5344.5388.hotlist.v1",
        "received_reads": "zone.5388.5344.reads.v1",
        "received_hotlist": "zone.5388.5344.hotlist.v1",
    }
    for role in (Role.SUPERVISOR, Role.DPO, Role.ADMIN):
        listed = await zone.client.get("/v1/agreements", headers=zone.auth(role))
        assert listed.status_code == 200 and [a["agreement_id"] for a in listed.json()] == [
            made["agreement_id"]
        ]
        one = await zone.client.get(f"/v1/agreements/{made['agreement_id']}", headers=zone.auth(role))
        assert one.status_code == 200 and one.json() == made
    filtered = await zone.client.get("/v1/agreements?status=revoked", headers=zone.auth(Role.DPO))
    assert filtered.json() == []

    (audited,) = await zone.audited("agreement_change", 1)
    assert audited.actor.user_id == "admin" and audited.target == f"agreement:{made['agreement_id']}"
    assert list(audited.recipients) == ["zone:5388"] and audited.case_reference == "AGR-5344-5388"
    assert json.loads(audited.changes)["terms"][1]["reads_out"]["border_cameras"] is True


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
async def test_only_an_admin_makes_changes_or_revokes_agreements(
    zones: Callable[..., Any], role: Role
) -> None:
    (zone,) = await zones("5344")
    made = await zone.agree("5388")
    body = {"partner_zone_id": "5390", "reference": "x", "legal_basis": "y"}
    attempts = [
        await zone.client.post("/v1/agreements", json=body, headers=zone.auth(role)),
        await zone.client.patch(
            f"/v1/agreements/{made['agreement_id']}", json={"reference": "z"}, headers=zone.auth(role)
        ),
        await zone.client.post(
            f"/v1/agreements/{made['agreement_id']}/revoke", json={"reason": "r"}, headers=zone.auth(role)
        ),
    ]
    assert [a.status_code for a in attempts] == [403, 403, 403]
    assert all(a.headers["content-type"] == PROBLEM_JSON for a in attempts)


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.INVESTIGATOR, Role.AUDITOR])
async def test_other_roles_do_not_read_agreements(zones: Callable[..., Any], role: Role) -> None:
    (zone,) = await zones("5344")
    assert (await zone.client.get("/v1/agreements", headers=zone.auth(role))).status_code == 403


async def test_another_zones_token_is_refused(zones: Callable[..., Any]) -> None:
    (zone,) = await zones("5344")
    token = zone.issuer.issue("admin", Role.ADMIN, zone_id="5388")
    answer = await zone.client.get("/v1/agreements", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and "zone 5388" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"partner_zone_id": "5344"}, 422, "this zone"),
        ({"partner_zone_id": "53.88"}, 422, "partner_zone_id"),
        ({"valid_from": "2026-01-01T00:00:00"}, 422, "offset"),
        ({"reads": {"camera_ids": ["c"], "fields": ["plate"]}}, 422, "must include camera, time"),
        ({"reads": {"fields": ["plate", "time", "camera", "iris"]}}, 422, "body.reads.fields.3"),
        ({"valid_until": "2020-01-01T00:00:00Z"}, 422, "after valid_from"),
    ],
)
async def test_bad_agreements_are_refused_saying_why(
    zones: Callable[..., Any], body: dict[str, Any], status: int, says: str
) -> None:
    (zone,) = await zones("5344")
    full = {"partner_zone_id": "5388", "reference": "AGR-1", "legal_basis": "WPA"} | body
    answer = await zone.client.post("/v1/agreements", json=full, headers=zone.auth(Role.ADMIN))
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert says in json.dumps(answer.json())


async def test_a_second_agreement_with_a_neighbour_overlapping_the_first_is_a_conflict(
    zones: Callable[..., Any],
) -> None:
    (zone,) = await zones("5344")
    await zone.agree("5388")
    body = {"partner_zone_id": "5388", "reference": "AGR-2", "legal_basis": "WPA"}
    answer = await zone.client.post("/v1/agreements", json=body, headers=zone.auth(Role.ADMIN))
    assert answer.status_code == 409 and "one agreement per neighbour" in answer.json()["detail"]


async def test_a_change_changes_only_what_is_sent_and_is_audited(zones: Callable[..., Any]) -> None:
    (zone,) = await zones("5344")
    made = await zone.agree("5388", reads={"camera_ids": ["cam-1"]})
    until = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    changed = await zone.client.patch(
        f"/v1/agreements/{made['agreement_id']}",
        json={"valid_until": until, "inbound": {"hotlists": True}},
        headers=zone.auth(Role.ADMIN),
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["reads"] == made["reads"] and body["inbound"] == {"reads": False, "hotlists": True}
    assert datetime.fromisoformat(body["valid_until"]) == datetime.fromisoformat(until)
    audited = [e for e in await zone.audited("agreement_change", 2) if '"op":"change"' in e.query]
    assert set(json.loads(audited[0].changes)) == {"valid_until", "inbound"}

    bad = await zone.client.patch(
        f"/v1/agreements/{made['agreement_id']}", json={"reference": None}, headers=zone.auth(Role.ADMIN)
    )
    assert bad.status_code == 422 and "reference" in bad.json()["detail"]
    missing = await zone.client.patch(
        "/v1/agreements/nope", json={"reference": "x"}, headers=zone.auth(Role.ADMIN)
    )
    assert missing.status_code == 404


async def test_revoking_ends_the_agreement_once(zones: Callable[..., Any]) -> None:
    (zone,) = await zones("5344")
    made = await zone.agree("5388")
    revoked = await zone.revoke(made["agreement_id"], "the protocol was not renewed")
    assert revoked.status_code == 200
    body = revoked.json()
    assert body["status"] == "revoked" and body["revoked_by"] == "admin"
    assert body["revocation_reason"] == "the protocol was not renewed"
    again = await zone.revoke(made["agreement_id"])
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM_JSON
    change = await zone.client.patch(
        f"/v1/agreements/{made['agreement_id']}", json={"reference": "x"}, headers=zone.auth(Role.ADMIN)
    )
    assert change.status_code == 409
    assert (await zone.revoke("nope")).status_code == 404
    # A new agreement with that neighbour may follow.
    assert (await zone.agree("5388"))["status"] == "active"
