"""The bridge between two zones on one exchange (in process): reads and hotlists shared under an
agreement, minimised to its fields, each disclosure audited; a neighbour's records taken only under
an agreement in force, the others dead-lettered with the reason; revocation stops the flow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from anpr.v1 import camera_pb2, dlq_pb2, hotlist_pb2, read_pb2, share_pb2
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.metrics import SHARED_RECORDS
from anpr_core.testing import eventually
from anpr_share.domain.book import AgreementBook
from anpr_share.domain.zone_topics import ZoneTopics
from anpr_share.handlers.share_in import refresh_agreements
from anpr_share.handlers.share_out import share_reads
from anpr_share.testing import zone_factory

pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@pytest.fixture
async def zones(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`await zones("5344", "5388")`: those zones' share services, running, on one exchange."""
    async with zone_factory(tmp_path) as start:
        yield start


TOPICS = Topics()
EXCHANGE = ZoneTopics()


def reads_of(records: list[Any]) -> list[read_pb2.PlateRead]:
    out = []
    for record in records:
        read = read_pb2.PlateRead()
        read.ParseFromString(record.value)
        out.append(read)
    return out


async def camera(zone: Any, camera_id: str, *, border_with: str = "", status: str = "active") -> None:
    entry = camera_pb2.CameraEntry(
        meta=new_meta(zone.zone_id, "ingest"),
        camera_id=camera_id,
        status=status,
        border_camera=bool(border_with),
        neighbour_zone_id=border_with,
    )
    await zone.bus.publish(TOPICS.cameras, camera_id.encode(), entry.SerializeToString())


async def dead_letters(zone: Any) -> list[dlq_pb2.DeadLetter]:
    letters = []
    for record in await zone.topic(TOPICS.dlq):
        letter = dlq_pb2.DeadLetter()
        letter.ParseFromString(record.value)
        letters.append(letter)
    return letters


async def test_reads_of_a_shared_border_camera_cross_minimised_and_each_disclosure_is_audited(
    zones: Callable[..., Any],
) -> None:
    a, b = await zones("5344", "5388")
    await camera(a, "cam-border", border_with="5388")
    await camera(a, "cam-inner")
    await camera(a, "cam-other-border", border_with="5390")
    agreement = await a.agree("5388", reads={"border_cameras": True, "fields": ["plate", "time", "camera"]})
    await b.agree("5344", inbound={"reads": True})
    await a.settled()
    counted_out = SHARED_RECORDS.labels("out", "5388", "reads")
    counted_in = SHARED_RECORDS.labels("in", "5344", "reads")
    before = (counted_out._value.get(), counted_in._value.get())

    shared_id = await a.publish_read("cam-border", "1ABC234")
    await a.publish_read("cam-inner", "2DEF345")
    await a.publish_read("cam-other-border", "3GHI456")
    await a.settled()
    await b.settled()

    crossed = reads_of(await a.topic(EXCHANGE.reads("5344", "5388"), exchange=True))
    assert [r.meta.event_id for r in crossed] == [shared_id]
    read = crossed[0]
    assert (read.plate, read.camera_id, read.meta.zone_id) == ("1ABC234", "cam-border", "5344")
    assert read.HasField("captured_at")
    # Everything the agreement does not name stays in the zone.
    for absent in (
        "direction",
        "confidence",
        "country",
        "plate_crop",
        "overview",
        "reader",
        "frame_event_id",
    ):
        assert not getattr(read, absent), absent
    assert not read.candidates and not read.character_probabilities and not read.HasField("vehicle")
    assert not read.HasField("box")

    disclosures = await a.audit_events("share_out")
    assert len(disclosures) == 1
    disclosure = disclosures[0]
    assert list(disclosure.record_ids) == [shared_id]
    assert list(disclosure.recipients) == ["zone:5388"]
    assert disclosure.case_reference == "AGR-5344-5388"
    assert agreement["agreement_id"] in disclosure.query

    # The neighbour takes it (its agreement takes reads in) onto its shared reads, as it came.
    taken = reads_of(await b.arrived(TOPICS.shared_reads, 1))
    assert [(r.meta.event_id, r.meta.zone_id) for r in taken] == [(shared_id, "5344")]
    assert (counted_out._value.get() - before[0], counted_in._value.get() - before[1]) == (1, 1)


async def test_crop_and_overview_cross_only_where_the_agreement_names_them(zones: Callable[..., Any]) -> None:
    (a,) = await zones("5344")
    fields = ["plate", "time", "camera", "direction", "confidence", "crop", "overview", "vehicle"]
    await a.agree("5388", reads={"camera_ids": ["cam-1"], "fields": fields})
    await a.publish_read("cam-1", "1ABC234")
    await a.settled()
    (read,) = reads_of(await a.topic(EXCHANGE.reads("5344", "5388"), exchange=True))
    assert read.plate_crop == b"\xff\xd8crop" and read.overview == b"\xff\xd8overview"
    assert read.box.x2 == 110 and read.vehicle.make == "Audi" and read.confidence > 0.9
    assert not read.candidates and not read.country


async def test_a_neighbours_read_is_never_passed_on(zones: Callable[..., Any]) -> None:
    (a,) = await zones("5344")
    await a.agree("5388", reads={"camera_ids": ["cam-1"]})
    await a.agree("5390", reads={"camera_ids": ["cam-1"]})
    # A read of zone 5390's (as a neighbour's shared read would be, were it on this topic).
    foreign = await a.publish_read("cam-1", "1ABC234", meta=new_meta("5390", "share"))
    own = await a.publish_read("cam-1", "2DEF345")
    await a.settled()
    to_5388 = reads_of(await a.topic(EXCHANGE.reads("5344", "5388"), exchange=True))
    assert [r.meta.event_id for r in to_5388] == [own] and foreign != own


async def test_revocation_stops_the_flow_at_once_here_and_at_the_next_refresh_on_another_replica(
    zones: Callable[..., Any],
) -> None:
    # Two replicas of zone 5344's share service would each hold part of the reads' partitions; the
    # second here refreshes its agreements only when told, as if its refresh were far off.
    a, b = await zones("5344", "5388")
    agreement = await a.agree("5388", reads={"camera_ids": ["cam-1"]})
    before = await a.publish_read("cam-1", "1ABC234")
    await a.settled()

    answer = await a.revoke(agreement["agreement_id"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "revoked"
    # Answered: nothing more crosses from this replica, not a record read a moment later.
    after = await a.publish_read("cam-1", "2DEF345")
    await a.settled()
    crossed = [
        r.meta.event_id for r in reads_of(await a.topic(EXCHANGE.reads("5344", "5388"), exchange=True))
    ]
    assert crossed == [before] and after not in crossed
    assert [list(e.record_ids) for e in await a.audit_events("share_out")] == [[before]]
    revocations = [e for e in await a.audited("agreement_change", 2) if '"op":"revoke"' in e.query]
    assert len(revocations) == 1 and revocations[0].detail == "agreement ended"
    del b


async def test_another_replica_stops_sharing_at_its_next_refresh(zones: Callable[..., Any]) -> None:
    (a,) = await zones("5344", refresh_s=60)
    agreement = await a.agree("5388", reads={"camera_ids": ["cam-1"]})
    # A second replica of the same service (same database and buses, its own book and lock), which
    # knows the agreement as it was before the revocation.
    other = replace(a.service.ports, book=AgreementBook("5344"), flow=asyncio.Lock())
    await refresh_agreements(other)
    value = a.read_value("cam-1", "1ABC234")
    assert await share_reads(other, [value]) == 1
    assert (await a.revoke(agreement["agreement_id"])).status_code == 200
    # Until its refresh the other replica still shares; at its refresh (ANPR_SHARE_REFRESH_S) it stops.
    await refresh_agreements(other)
    assert await share_reads(other, [value]) == 0


async def test_a_neighbours_bad_records_go_to_the_dlq_with_the_reason_and_the_good_ones_go_on(
    zones: Callable[..., Any],
) -> None:
    a, b = await zones("5344", "5388")
    await b.agree("5344", inbound={"reads": True})
    topic = EXCHANGE.reads("5344", "5388")
    good = plate_read_value("5344", "cam-1", "1ABC234")
    forged = plate_read_value("5390", "cam-1", "6XYZ789")  # claims zone 5390 on zone 5344's topic
    await a.exchange.publish(topic, b"cam-1", b"\x0a\xff\xff not protobuf")
    await a.exchange.publish(topic, b"cam-1", forged)
    await a.exchange.publish(topic, b"cam-1", good)
    await b.arrived(TOPICS.shared_reads, 1)
    await b.settled()

    reasons = [letter.reason for letter in await dead_letters(b)]
    assert len(reasons) == 2
    assert reasons[0].startswith("DecodeError")
    assert "wrong source zone" in reasons[1] and "5390" in reasons[1]
    assert [r.plate for r in reads_of(await b.topic(TOPICS.shared_reads))] == ["1ABC234"]
    letters = await dead_letters(b)
    assert all(letter.original_topic == topic for letter in letters)
    del a


async def test_a_neighbours_records_outside_an_active_agreement_are_refused(
    zones: Callable[..., Any],
) -> None:
    a, b = await zones("5344", "5388")
    # Zone 5388 takes 5344's hotlists, not its reads; a revoked agreement takes nothing.
    agreement = await b.agree("5344", inbound={"hotlists": True})
    await a.exchange.publish(
        EXCHANGE.reads("5344", "5388"), b"cam-1", plate_read_value("5344", "cam-1", "1ABC234")
    )
    await b.arrived(TOPICS.dlq, 1)
    assert (await b.revoke(agreement["agreement_id"])).status_code == 200
    entry = hotlist_entry("5344", "stolen")
    await a.exchange.publish(EXCHANGE.hotlist("5344", "5388"), b"e1", entry.SerializeToString())
    await b.arrived(TOPICS.dlq, 2)
    reasons = [letter.reason for letter in await dead_letters(b)]
    assert len(reasons) == 2
    assert all("outside an active agreement" in reason for reason in reasons)
    assert "takes its reads" in reasons[0] and "takes its hotlist" in reasons[1]
    shared = await b.topic(TOPICS.shared_hotlist)
    # Only the end of 5344's lists here, which the revocation announced.
    assert [dict(r.headers).get("schild-kind") for r in shared] == [b"sharing-ended"]


def plate_read_value(zone_id: str, camera_id: str, plate: str) -> bytes:
    read = read_pb2.PlateRead(
        meta=new_meta(zone_id, "share"),
        camera_id=camera_id,
        plate=plate,
        captured_at=to_timestamp(datetime.now(UTC)),
    )
    return read.SerializeToString()


def hotlist_entry(zone_id: str, list_name: str, **fields: Any) -> hotlist_pb2.HotlistEntry:
    entry = hotlist_pb2.HotlistEntry(
        meta=new_meta(zone_id, "match"),
        entry_id=new_meta(zone_id, "match").event_id,
        plate="1ABC234",
        list_name=list_name,
        category="stolen_vehicle",
        priority=2,
        action="stop and check",
        valid_from=to_timestamp(datetime.now(UTC) - timedelta(hours=1)),
        source_zone=zone_id,
        reason="reported stolen",
        case_reference="PV-2026-1",
        entered_by="officer-7",
    )
    for name, value in fields.items():
        setattr(entry, name, value)
    return entry


async def test_hotlists_cross_without_reason_or_case_and_end_with_the_revocation(
    zones: Callable[..., Any],
) -> None:
    a, b = await zones("5344", "5388")
    agreement = await a.agree("5388", hotlists={"categories": ["stolen_vehicle"]})
    valid_until = datetime.now(UTC) + timedelta(days=30)
    await b.agree("5344", inbound={"hotlists": True}, valid_until=valid_until.isoformat())
    shared = hotlist_entry("5344", "stolen")
    internal = hotlist_entry("5344", "local-watch", category="local_watch")
    neighbours = hotlist_entry("5390", "zone-5390.stolen")  # a neighbour's list held here
    for entry in (shared, internal, neighbours):
        await a.bus.publish(TOPICS.hotlist, entry.entry_id.encode(), entry.SerializeToString())
    await a.settled()
    await b.settled()

    crossed = []
    for record in await a.topic(EXCHANGE.hotlist("5344", "5388"), exchange=True):
        entry = hotlist_pb2.HotlistEntry()
        entry.ParseFromString(record.value)
        crossed.append(entry)
    assert [e.entry_id for e in crossed] == [shared.entry_id]
    assert crossed[0].plate == "1ABC234" and crossed[0].source_zone == "5344"
    assert not crossed[0].reason and not crossed[0].case_reference and not crossed[0].entered_by
    assert [list(e.record_ids) for e in await a.audit_events("share_out")] == [[shared.entry_id]]

    # The neighbour takes it; an open-ended entry ends no later than the agreement it came under.
    (taken_record,) = await b.arrived(TOPICS.shared_hotlist, 1)
    taken = hotlist_pb2.HotlistEntry()
    taken.ParseFromString(taken_record.value)
    assert taken.entry_id == shared.entry_id and taken_record.key == b"zone:5344"
    assert abs(taken.valid_until.ToDatetime(tzinfo=UTC) - valid_until) < timedelta(seconds=1)

    assert (await a.revoke(agreement["agreement_id"])).status_code == 200

    async def told() -> bool:
        records = await b.topic(TOPICS.shared_hotlist)
        return any(dict(r.headers).get("schild-kind") == b"sharing-ended" for r in records)

    await eventually(told)
    ended = share_pb2.SharingEnded()
    ended.ParseFromString(
        next(r.value for r in await b.topic(TOPICS.shared_hotlist) if dict(r.headers).get("schild-kind"))
    )
    assert ended.zone_id == "5344" and ended.agreement_reference == "AGR-5344-5388"
