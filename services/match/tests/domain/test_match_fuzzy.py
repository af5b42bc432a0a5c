"""Fuzzy matching: the index finds exactly what a brute-force scan over every entry finds."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anpr_core.plates import DEFAULT_CONFUSABLE_CLASSES, Confusables
from anpr_match.domain.dedupe import HitDeduplicator
from anpr_match.domain.entries import Category, Direction, HotlistEntry, ListRules, MatchKind, SeenRead
from anpr_match.domain.fuzzy import compare
from anpr_match.domain.index import HotlistIndex
from anpr_match.domain.recent import RecentReads, look_back

# Relative to the day the tests run: no date here expires.
NOW = datetime.now(UTC).replace(microsecond=0)
CLASS_OF = {ch: group for group in DEFAULT_CONFUSABLE_CLASSES for ch in group}
# A small alphabet, rich in confusables, so random plates collide often.
ALPHABET = "0ODQ1IL2Z5S8B6GAXK"


def entry(entry_id: str, plate: str, list_name: str = "stolen", **changes: object) -> HotlistEntry:
    fields: dict[str, object] = {
        "entry_id": entry_id,
        "plate": plate,
        "list_name": list_name,
        "category": Category.STOLEN_VEHICLE,
        "priority": 1,
        "action": "stop",
        "valid_from": NOW - timedelta(days=1),
        "valid_until": None,
        "source_zone": "5344",
        "reason": "r",
        "case_reference": "PV/1",
        "entered_by": "alice",
    }
    fields.update(changes)
    return HotlistEntry(**fields)  # type: ignore[arg-type]


def same_class(a: str, b: str) -> bool:
    return a == b or (a in CLASS_OF and CLASS_OF[a] == CLASS_OF.get(b))


def reference(read: str, listed: str, max_substitutions: int, allow_edit: bool) -> bool:
    """Brute force from the definition, sharing no code with the index."""
    if len(read) == len(listed):
        pairs = list(zip(read, listed, strict=True))
        return all(same_class(a, b) for a, b in pairs) and sum(a != b for a, b in pairs) <= max_substitutions
    if not allow_edit or abs(len(read) - len(listed)) != 1:
        return False
    longer, shorter = (read, listed) if len(read) > len(listed) else (listed, read)
    return any(
        reference(longer[:i] + longer[i + 1 :], shorter, max_substitutions, False) for i in range(len(longer))
    )


def index_with(rules: list[ListRules], entries: list[HotlistEntry]) -> HotlistIndex:
    index = HotlistIndex()
    for list_rules in rules:
        index.set_rules(list_rules)
    for listed in entries:
        index.put(listed)
    return index


plates = st.text(alphabet=ALPHABET, min_size=2, max_size=7)


@st.composite
def near(draw: st.DrawFn, base: str) -> str:
    """A read near `base`: confusable or arbitrary substitutions, an insertion, a deletion."""
    read = list(base)
    for _ in range(draw(st.integers(0, 3))):
        operation = draw(st.sampled_from(["confuse", "substitute", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(read) - 1)))
        if operation == "confuse" and read and read[position] in CLASS_OF:
            read[position] = draw(st.sampled_from(CLASS_OF[read[position]]))
        elif operation == "substitute" and read:
            read[position] = draw(st.sampled_from(ALPHABET))
        elif operation == "insert":
            read.insert(position, draw(st.sampled_from(ALPHABET)))
        elif operation == "delete" and len(read) > 2:
            del read[position]
    return "".join(read)


@settings(max_examples=300, deadline=None)
@given(
    listed=st.lists(plates, min_size=1, max_size=25),
    data=st.data(),
    strict_subs=st.integers(0, 3),
    edit_subs=st.integers(0, 3),
)
def test_index_finds_exactly_the_entries_brute_force_finds(
    listed: list[str], data: st.DataObject, strict_subs: int, edit_subs: int
) -> None:
    rules = [
        ListRules("strict", Category.STOLEN_VEHICLE, max_substitutions=strict_subs),
        ListRules("loose", Category.WANTED_PERSON, max_substitutions=edit_subs, allow_edit=True),
    ]
    entries = [entry(f"e{n}", plate, "strict" if n % 2 else "loose") for n, plate in enumerate(listed)]
    index = index_with(rules, entries)
    by_list = {r.name: r for r in rules}
    for _ in range(5):
        # Two candidate readings of one read, often near each other: every entry either finds.
        read = data.draw(st.one_of(near(data.draw(st.sampled_from(listed))), plates))
        other = data.draw(st.one_of(near(read), plates))
        readings = [text for text in (read, other) if len(text) >= 2]
        found = {m.entry.entry_id: m for m in index.match([(text, 0.9) for text in readings], NOW)}
        expected = {
            e.entry_id
            for e in entries
            for text in readings
            if reference(
                text, e.plate, by_list[e.list_name].max_substitutions, by_list[e.list_name].allow_edit
            )
        }
        assert set(found) == expected, (readings, listed)
        for match in found.values():
            assert (match.kind is MatchKind.EXACT) == (match.plate_read == match.entry.plate)
            assert all(0 <= p <= len(match.entry.plate) for p in match.differing_positions)


@given(listed=plates, read=plates)
def test_compare_agrees_with_the_definition(listed: str, read: str) -> None:
    for subs in range(3):
        for allow_edit in (False, True):
            outcome = compare(read, listed, subs, allow_edit, Confusables())
            assert (outcome is not None) == reference(read, listed, subs, allow_edit)


def test_confusable_match_names_the_differing_positions_and_scores_lower() -> None:
    index = index_with([ListRules("stolen", Category.STOLEN_VEHICLE)], [entry("e1", "1ABC234")])
    [match] = index.match([("1A8C234", 0.9)], NOW)
    assert match.kind is MatchKind.CONFUSABLE
    assert match.differing_positions == (2,)
    assert match.score == pytest.approx(0.9 * 0.9)
    assert index.match([("IA8C234", 0.9)], NOW) == [], "two substitutions exceed the default of one"


def test_substitution_limit_is_per_list_and_zero_means_exact_only() -> None:
    index = index_with(
        [
            ListRules("exact-only", Category.SEIZED, max_substitutions=0),
            ListRules("two", Category.STOLEN_VEHICLE, max_substitutions=2),
        ],
        [entry("exact", "1ABC234", "exact-only"), entry("two", "1ABC234", "two")],
    )
    assert [m.entry.entry_id for m in index.match([("IA8C234", 0.9)], NOW)] == ["two"]
    assert {m.entry.entry_id for m in index.match([("1ABC234", 0.9)], NOW)} == {"exact", "two"}


def test_a_non_confusable_substitution_never_matches() -> None:
    index = index_with(
        [ListRules("stolen", Category.STOLEN_VEHICLE, max_substitutions=3, allow_edit=True)],
        [entry("e1", "1ABC234")],
    )
    assert index.match([("1ABC734", 0.99)], NOW) == []


def test_insertion_and_deletion_only_on_lists_that_allow_them() -> None:
    index = index_with(
        [
            ListRules("no-edit", Category.STOLEN_VEHICLE),
            ListRules("edit", Category.WANTED_PERSON, allow_edit=True),
        ],
        [entry("plain", "1ABC234", "no-edit"), entry("edit", "1ABC234", "edit")],
    )
    missing = index.match([("1AC234", 0.9)], NOW)
    extra = index.match([("1ABCC234", 0.9)], NOW)
    assert [(m.entry.entry_id, m.kind, m.differing_positions) for m in missing] == [
        ("edit", MatchKind.EDIT, (2,))
    ]
    assert [(m.entry.entry_id, m.kind) for m in extra] == [("edit", MatchKind.EDIT)]


def test_edits_start_and_stop_with_the_lists_rule() -> None:
    index = index_with([ListRules("later", Category.STOLEN_VEHICLE)], [entry("e1", "1ABC234", "later")])
    assert index.match([("1AC234", 0.9)], NOW) == []
    index.set_rules(ListRules("later", Category.STOLEN_VEHICLE, allow_edit=True))
    assert len(index.match([("1AC234", 0.9)], NOW)) == 1
    index.set_rules(ListRules("later", Category.STOLEN_VEHICLE))
    assert index.match([("1AC234", 0.9)], NOW) == []


def test_a_lower_ranked_candidate_that_matches_exactly_is_used() -> None:
    index = index_with([ListRules("stolen", Category.STOLEN_VEHICLE)], [entry("e1", "1ABC234")])
    [match] = index.match([("9XYZ999", 0.95), ("1ABC234", 0.4)], NOW)
    assert (match.plate_read, match.kind) == ("1ABC234", MatchKind.EXACT)


def test_custom_confusable_classes_replace_the_defaults() -> None:
    index = HotlistIndex(Confusables(["0O", "7T"]))
    index.put(entry("e1", "T70ABC"))
    assert len(index.match([("770ABC", 0.9)], NOW)) == 1
    assert index.match([("T7DABC", 0.9)], NOW) == [], "D is no longer confusable with 0"
    with pytest.raises(ValueError, match="more than one"):
        Confusables(["0O", "O8"])


def test_camera_direction_and_hours_rules_limit_a_list() -> None:
    rules = ListRules(
        "night",
        Category.LOCAL_WATCH,
        directions=frozenset({Direction.IN}),
        camera_ids=frozenset({"cam-1"}),
        active_from=time(22, 0),
        active_until=time(6, 0),
        timezone="UTC",
    )
    index = index_with([rules], [entry("e1", "1ABC234", "night")])
    night = NOW.replace(hour=23, minute=30, second=0)
    day = NOW.replace(hour=12, minute=0, second=0)

    def hits(moment: datetime, camera: str, direction: Direction) -> int:
        return len(index.match([("1ABC234", 0.9)], moment, camera, direction))

    assert hits(night, "cam-1", Direction.IN) == 1
    assert hits(night.replace(hour=5), "cam-1", Direction.IN) == 1, "the window wraps past midnight"
    assert hits(night, "cam-1", Direction.UNKNOWN) == 1, "an unknown direction is not excluded"
    assert hits(night, "cam-2", Direction.IN) == 0
    assert hits(night, "cam-1", Direction.OUT) == 0
    assert hits(day, "cam-1", Direction.IN) == 0


def test_rules_are_checked_when_made() -> None:
    with pytest.raises(ValueError, match="max_substitutions"):
        ListRules("x", Category.SEIZED, max_substitutions=4)
    with pytest.raises(ValueError, match="both"):
        ListRules("x", Category.SEIZED, active_from=time(8, 0))
    with pytest.raises(ValueError, match="list name"):
        ListRules("Has Spaces", Category.SEIZED)


def test_uuid_entry_ids_are_kept_compact_and_come_back_unchanged() -> None:
    entry_id = "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    index = index_with([], [entry(entry_id, "1ABC234")])
    assert entry_id in index
    [match] = index.match([("1ABC234", 0.9)], NOW)
    assert match.entry.entry_id == entry_id
    index.remove(entry_id)
    assert entry_id not in index
    assert index.match([("1ABC234", 0.9)], NOW) == []


def test_a_freed_slot_is_reused_without_leaving_old_keys() -> None:
    index = index_with([ListRules("edit", Category.STOLEN_VEHICLE, allow_edit=True)], [])
    index.put(entry("a", "1ABC234", "edit"))
    index.remove("a")
    index.put(entry("b", "9XYZ876", "edit"))
    assert index.match([("1ABC234", 0.9)], NOW) == []
    assert index.match([("1AC234", 0.9)], NOW) == []
    assert [m.entry.entry_id for m in index.match([("9XY876", 0.9)], NOW)] == ["b"]


def test_duplicate_hits_of_one_passage_are_suppressed_within_the_window() -> None:
    dedup = HitDeduplicator(window_s=60)
    assert dedup.admit("e1", "cam-1", NOW, "read-1")
    assert not dedup.admit("e1", "cam-1", NOW + timedelta(seconds=2), "read-2"), "next frame, same car"
    assert dedup.admit("e1", "cam-1", NOW, "read-1"), "a redelivered read keeps its hit"
    assert dedup.admit("e1", "cam-2", NOW + timedelta(seconds=3), "read-3"), "another camera"
    assert dedup.admit("e2", "cam-1", NOW + timedelta(seconds=3), "read-2"), "another entry"
    assert dedup.admit("e1", "cam-1", NOW + timedelta(seconds=61), "read-4"), "a later passage"


def test_duplicate_memory_is_bounded_by_the_window() -> None:
    dedup = HitDeduplicator(window_s=10)
    for n in range(1000):
        dedup.admit(f"e{n}", "cam-1", NOW + timedelta(seconds=n), f"read-{n}")
    assert len(dedup) <= 11


def test_look_back_finds_recent_reads_of_a_new_entry_in_force_now() -> None:
    recent = RecentReads(capacity=3)
    for n, plate in enumerate(["9XYZ999", "1A8C234", "2DEF345", "7QRS456"]):
        recent.add(SeenRead(f"r{n}", "cam-1", NOW - timedelta(minutes=30 - n), Direction.IN, ((plate, 0.9),)))
    assert len(recent) == 3, "the ring is bounded"
    later = NOW + timedelta(minutes=5)
    new = entry("e1", "1ABC234", valid_from=NOW)
    found = look_back(
        [new],
        [ListRules("stolen", Category.STOLEN_VEHICLE)],
        recent.since(later - timedelta(hours=1)),
        Confusables(),
        lookback=timedelta(hours=1),
    )
    assert [(read.event_id, match.kind) for read, match in found] == [("r1", MatchKind.CONFUSABLE)]
    expired = entry("e2", "1ABC234", valid_from=NOW - timedelta(days=2), valid_until=NOW - timedelta(days=1))
    an_hour = timedelta(hours=1)
    assert look_back([expired], [], recent.since(later - an_hour), Confusables(), lookback=an_hour) == []
