"""The search handler on fakes of its ports (no database, no bus): what it asks the store, what it
audits, and its refusals as domain errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from anpr_access.domain.legal import Justification, LegalPolicy, LegalTier, OutOfReach, Purpose, SearchRefused
from anpr_access.domain.records import HitRecord, PassageView, ReadImages, ReadSummary
from anpr_access.domain.search import ReadCriteria, SearchRequest
from anpr_access.domain.stats import Bucket
from anpr_access.handlers.search import COUNT_CAP, search_passages, traffic_statistics
from anpr_access.ports import SearchPorts
from anpr_core.auth import Principal, Role
from anpr_core.plates import Confusables

NOW = datetime.now(UTC)
ALICE = Principal("alice", Role.INVESTIGATOR, "5344")
WHY = Justification(Purpose.ADMINISTRATIVE, "PV/1", "art. 44/5 WPA", "")


def summary(event_id: str, plate: str, at: datetime) -> ReadSummary:
    return ReadSummary(event_id, "cam-1", at, "in", plate, plate, "BE", True, 0.9, False, True, False)


@dataclass
class FakeStore:
    found: list[PassageView] = field(default_factory=list)
    counts: list[tuple[str, datetime, str, int]] = field(default_factory=list)
    asked: list[ReadCriteria] = field(default_factory=list)
    counted: list[int] = field(default_factory=list)

    async def count_passages(self, criteria: ReadCriteria, cap: int) -> int:
        self.counted.append(cap)
        return min(len(self.found), cap + 1)

    async def find_passages(self, criteria: ReadCriteria) -> list[PassageView]:
        self.asked.append(criteria)
        return self.found[criteria.offset : criteria.offset + criteria.limit + 1]

    async def read_images(self, event_id: str, not_before: datetime) -> ReadImages | None:
        return None

    async def zone_hits(self, zone_id: str, since: datetime, limit: int) -> list[HitRecord]:
        return []

    async def traffic_counts(
        self, since: datetime, until: datetime, bucket: Bucket
    ) -> list[tuple[str, datetime, str, int]]:
        return self.counts


@dataclass
class FakeAudit:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def record(self, actor: Principal | None, action: str, **fields: Any) -> object:
        self.events.append((action, fields))
        return None


def ports(store: FakeStore, audit: FakeAudit) -> SearchPorts:
    return SearchPorts(store, audit, LegalPolicy(), Confusables(("0O", "1I")), store)


async def test_a_search_asks_for_the_zone_key_and_audits_every_passage_and_read_shown() -> None:
    at = NOW - timedelta(minutes=5)
    reads = [summary("r1", "1ABC", at), summary("r2", "IABC", at + timedelta(seconds=0.4))]
    passage = PassageView(
        "cam-1:r1", "cam-1", "in", at, reads[1].captured_at, "1ABC", "1ABC", "BE", 0.9, reads
    )
    alone = PassageView(None, "cam-1", "in", at, at, "1ABC", "1ABC", "BE", 0.8, [summary("r3", "1ABC", at)])
    store, audit = FakeStore(found=[passage, alone]), FakeAudit()

    page = await search_passages(
        ports(store, audit), ALICE, WHY, SearchRequest(plate="i-abc", fuzzy=True, limit=1), NOW
    )
    assert (page.items, page.next_offset, page.legal_tier) == ([passage], 1, LegalTier.RECENT)
    [criteria] = store.asked
    assert (criteria.plate, criteria.plate_key) == (None, "1ABC"), "the zone's classes: I is 1"
    assert criteria.window_start == NOW - timedelta(days=30)
    [(action, fields)] = audit.events
    assert (action, fields["record_ids"]) == ("search", ["cam-1:r1", "r1", "r2"])


async def test_a_search_counts_its_total_only_where_its_page_cannot_tell_it() -> None:
    at = NOW - timedelta(minutes=5)
    found = [
        PassageView(None, "cam-1", "in", at, at, "1ABC", "1ABC", "BE", 0.8, [summary(f"r{n}", "1ABC", at)])
        for n in range(7)
    ]
    store, audit = FakeStore(found=found), FakeAudit()

    async def total(offset: int, limit: int) -> tuple[int, bool]:
        asked = SearchRequest(plate="1ABC", offset=offset, limit=limit)
        page = await search_passages(ports(store, audit), ALICE, WHY, asked, NOW)
        return page.total, page.total_exact

    # The last page (or a first page with all of it) tells the total without a count.
    assert await total(0, 10) == (7, True)
    assert await total(5, 5) == (7, True)
    assert store.counted == []
    # A page with more after it, or one past the end, is counted (as far as COUNT_CAP).
    assert await total(0, 5) == (7, True)
    assert await total(20, 5) == (7, True)
    assert store.counted == [COUNT_CAP, COUNT_CAP]


async def test_a_search_with_more_than_the_cap_says_so() -> None:
    at = NOW - timedelta(minutes=5)
    one = PassageView(None, "cam-1", "in", at, at, "1ABC", "1ABC", "BE", 0.8, [summary("r", "1ABC", at)])
    store, audit = FakeStore(found=[one] * (COUNT_CAP + 3)), FakeAudit()
    page = await search_passages(ports(store, audit), ALICE, WHY, SearchRequest(plate="1ABC"), NOW)
    assert (page.total, page.total_exact) == (COUNT_CAP, False)
    # Paged to the end, the total is known again, past the cap.
    last = SearchRequest(plate="1ABC", offset=COUNT_CAP, limit=50)
    page = await search_passages(ports(store, audit), ALICE, WHY, last, NOW)
    assert (page.total, page.total_exact) == (COUNT_CAP + 3, True)


async def test_a_search_out_of_reach_is_refused_as_such_and_audited_before_the_store_is_asked() -> None:
    store, audit = FakeStore(), FakeAudit()
    asked = SearchRequest(plate="1ABC", since=NOW - timedelta(days=40))
    with pytest.raises(OutOfReach):
        await search_passages(ports(store, audit), ALICE, WHY, asked, NOW)
    with pytest.raises(SearchRefused) as incomplete:
        await search_passages(ports(store, audit), ALICE, WHY, SearchRequest(), NOW)
    assert not isinstance(incomplete.value, OutOfReach)
    assert store.asked == []
    assert [(action, fields["outcome"]) for action, fields in audit.events] == [("search", "refused")] * 2


async def test_traffic_statistics_are_the_store_counts_bucketed_and_audited() -> None:
    hour = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    store = FakeStore(counts=[("cam-1", hour, "in", 1), ("cam-1", hour, "out", 2)])
    audit = FakeAudit()
    rows = await traffic_statistics(
        ports(store, audit), ALICE, hour, hour + timedelta(hours=1), Bucket.HOUR, "json"
    )
    assert [(r.camera_id, r.passages_in, r.passages_out) for r in rows] == [("cam-1", 1, 2)]
    assert [action for action, _ in audit.events] == ["view_stats"]
