"""Agreements on plain data: their terms, states, overlap, what a change ends; the book's plans; the
exchange's topic names."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr_share.domain.agreements import (
    DEFAULT_FIELDS,
    Agreement,
    AgreementStatus,
    HotlistScope,
    InboundScope,
    ListsEnd,
    ReadField,
    ReadScope,
    Terms,
    changed_agreement,
    lists_ending,
    new_agreement,
    revoked_agreement,
    terms_changes,
)
from anpr_share.domain.book import AgreementBook
from anpr_share.domain.errors import Conflict, Invalid
from anpr_share.domain.zone_topics import SharedKind, ZoneTopic, ZoneTopics

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def terms(**changes: object) -> Terms:
    base = Terms(
        reference="AGR-1",
        legal_basis="art. 44/11/3septies WPA",
        valid_from=NOW - timedelta(days=1),
        valid_until=None,
        reads_out=ReadScope(camera_ids=frozenset({"cam-1"})),
        hotlists_out=HotlistScope(categories=frozenset({"stolen_vehicle"})),
        inbound=InboundScope(reads=True, hotlists=True),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def agreement(partner: str = "5388", agreement_id: str = "a1", **changes: object) -> Agreement:
    return new_agreement(agreement_id, "5344", partner, terms(**changes), [], by="admin", now=NOW)


def test_an_agreement_is_scheduled_active_ended_or_revoked() -> None:
    made = agreement(valid_until=NOW + timedelta(days=1))
    assert made.status(NOW - timedelta(days=2)) is AgreementStatus.SCHEDULED
    assert made.status(NOW) is AgreementStatus.ACTIVE and made.in_force(NOW)
    assert made.status(NOW + timedelta(days=1)) is AgreementStatus.ENDED
    revoked = revoked_agreement(made, "protocol ended", by="admin", now=NOW)
    assert revoked.status(NOW) is AgreementStatus.REVOKED and not revoked.in_force(NOW)
    assert revoked.ends_at == NOW and made.ends_at == NOW + timedelta(days=1)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"reference": " "}, "reference"),
        ({"legal_basis": ""}, "legal_basis"),
        ({"valid_until": NOW - timedelta(days=2)}, "after valid_from"),
        ({"valid_from": datetime(2026, 1, 1)}, "offset"),  # noqa: DTZ001 - naive on purpose
        ({"reads_out": ReadScope(border_cameras=True, fields=frozenset({ReadField.PLATE}))}, "camera, time"),
        ({"hotlists_out": HotlistScope(list_names=frozenset({"Bad Name"}))}, "not a list name"),
    ],
)
def test_terms_an_agreement_cannot_have_are_refused_saying_what_to_change(
    changes: dict[str, object], says: str
) -> None:
    with pytest.raises(Invalid, match=says):
        new_agreement("a1", "5344", "5388", terms(**changes), [], by="admin", now=NOW)


@pytest.mark.parametrize("partner", ["5344", "53.88", "", "x" * 33])
def test_the_partner_is_a_neighbour_whose_id_can_name_topics(partner: str) -> None:
    with pytest.raises(Invalid, match="partner_zone_id"):
        agreement(partner=partner)


def test_one_agreement_per_neighbour_at_a_time() -> None:
    first = agreement(valid_until=NOW + timedelta(days=10))
    overlapping = terms(valid_from=NOW + timedelta(days=5))
    with pytest.raises(Conflict, match="overlaps"):
        new_agreement("a2", "5344", "5388", overlapping, [first], by="admin", now=NOW)
    after = terms(valid_from=NOW + timedelta(days=10))
    assert new_agreement("a2", "5344", "5388", after, [first], by="admin", now=NOW).agreement_id == "a2"
    assert new_agreement("a3", "5344", "5390", overlapping, [first], by="admin", now=NOW)
    revoked = revoked_agreement(first, "ended early", by="admin", now=NOW)
    assert new_agreement("a4", "5344", "5388", overlapping, [revoked], by="admin", now=NOW)


def test_a_revoked_agreement_is_not_changed_nor_revoked_again() -> None:
    revoked = revoked_agreement(agreement(), "ended", by="admin", now=NOW)
    with pytest.raises(Conflict, match="revoked"):
        changed_agreement(revoked, {"reference": "AGR-2"}, [], now=NOW)
    with pytest.raises(Conflict, match="revoked"):
        revoked_agreement(revoked, "again", by="admin", now=NOW)
    with pytest.raises(Invalid, match="reason"):
        revoked_agreement(agreement(), " ", by="admin", now=NOW)


def test_a_change_names_what_it_changed() -> None:
    before = agreement()
    after = changed_agreement(
        before, {"reference": "AGR-2", "valid_until": NOW + timedelta(days=3)}, [], now=NOW
    )
    changes = terms_changes(before.terms, after.terms)
    assert set(changes) == {"reference", "valid_until"}
    assert changes["reference"] == ["AGR-1", "AGR-2"]
    with pytest.raises(Invalid, match="cannot change"):
        changed_agreement(before, {"partner_zone": "5390"}, [], now=NOW)


def test_what_a_revocation_or_a_change_ends_of_the_lists_shared_under_it() -> None:
    before = agreement()
    assert lists_ending(before, revoked_agreement(before, "x", by="a", now=NOW), NOW) == [
        ListsEnd(True, NOW),
        ListsEnd(False, NOW),
    ]
    sooner = NOW + timedelta(days=2)
    shortened = changed_agreement(before, {"valid_until": sooner}, [], now=NOW)
    assert lists_ending(before, shortened, NOW) == [ListsEnd(True, sooner), ListsEnd(False, sooner)]
    no_more_in = changed_agreement(before, {"inbound": InboundScope(reads=True)}, [], now=NOW)
    assert lists_ending(before, no_more_in, NOW) == [ListsEnd(False, NOW)]
    narrowed = changed_agreement(
        before, {"hotlists_out": HotlistScope(list_names=frozenset({"x"}))}, [], now=NOW
    )
    assert lists_ending(before, narrowed, NOW) == []
    lengthened = changed_agreement(shortened, {"valid_until": None}, [], now=NOW)
    assert lists_ending(shortened, lengthened, NOW) == []


def book(*agreements: Agreement) -> AgreementBook:
    made = AgreementBook("5344")
    made.load(agreements)
    return made


def test_reads_are_shared_by_named_cameras_and_by_the_registers_border_cameras_with_that_neighbour() -> None:
    named = agreement("5388", "a1")
    border = agreement("5390", "a2", reads_out=ReadScope(border_cameras=True))
    shelf = book(named, border)
    shelf.camera("cam-b", border=True, neighbour_zone="5390", retired=False)
    shelf.camera("cam-c", border=True, neighbour_zone="5388", retired=False)
    shelf.camera("cam-r", border=True, neighbour_zone="5390", retired=True)
    plans = shelf.plan_reads(["cam-1", "cam-b", "cam-c", "cam-r", "cam-1"], NOW)
    assert {p.agreement.partner_zone: p.positions for p in plans} == {"5388": [0, 4], "5390": [1]}
    # A camera no longer a border camera is no longer covered.
    shelf.camera("cam-b", border=False, neighbour_zone="", retired=False)
    assert shelf.plan_reads(["cam-b"], NOW) == []
    assert shelf.plan_reads(["cam-1"], NOW - timedelta(days=2)) == [], "not in force yet"


def test_hotlist_records_are_shared_by_list_and_category() -> None:
    shelf = book(agreement(hotlists_out=HotlistScope(frozenset({"wanted"}), frozenset({"stolen_vehicle"}))))
    plans = shelf.plan_hotlist([("wanted", "local_watch"), ("other", "stolen_vehicle"), ("x", "no_mot")], NOW)
    assert [p.positions for p in plans] == [[0, 1]]


def test_what_is_taken_in_and_from_whom() -> None:
    shelf = book(agreement("5388", "a1", inbound=InboundScope(reads=True)), agreement("5390", "a2"))
    assert shelf.inbound("5388", SharedKind.READS, NOW) is not None
    assert shelf.inbound("5388", SharedKind.HOTLIST, NOW) is None
    assert shelf.inbound("5391", SharedKind.READS, NOW) is None
    assert shelf.partners() == {"5388", "5390"} and shelf.sharing_out(NOW) == {"5388", "5390"}


def test_a_refresh_never_brings_back_an_older_version_of_an_agreement() -> None:
    made = agreement()
    revoked = revoked_agreement(made, "ended", by="admin", now=NOW + timedelta(seconds=1))
    shelf = book(made)
    shelf.put(revoked)
    shelf.load([made])  # read from the database just before the revocation committed
    assert shelf.read_agreements("cam-1", NOW + timedelta(seconds=2)) == []


def test_default_fields_are_the_plate_time_camera_direction_and_confidence() -> None:
    assert {f.value for f in DEFAULT_FIELDS} == {"plate", "time", "camera", "direction", "confidence"}


zones = st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True)


@given(zones, zones, st.sampled_from(list(SharedKind)), st.sampled_from(["", "t1.", "x-y."]))
def test_a_zone_topic_names_its_sender_recipient_and_kind(
    sender: str, recipient: str, kind: SharedKind, prefix: str
) -> None:
    names = ZoneTopics(prefix)
    assert names.parse(names.topic(sender, recipient, kind)) == ZoneTopic(sender, recipient, kind)


@pytest.mark.parametrize(
    "topic", ["anpr.reads.v1", "zone.5344.reads.v1", "zone.5344.5388.frames.v1", "zone.5344.5388.reads.v2"]
)
def test_other_topics_are_no_zone_topics(topic: str) -> None:
    assert ZoneTopics().parse(topic) is None
    assert ZoneTopics("t1.").parse(f"t2.{topic}") is None
