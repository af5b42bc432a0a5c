"""The audit hash chain: an intact chain verifies; any edit, deletion or reordering is found."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import assume, given
from hypothesis import strategies as st

from anpr_audit.chain import GENESIS, ChainRow, link_hash, verify_chain


def build_chain(contents: list[bytes], first_seq: int = 1, previous: str = GENESIS) -> list[ChainRow]:
    rows = []
    for offset, content in enumerate(contents):
        row_hash = link_hash(previous, content)
        rows.append(ChainRow(first_seq + offset, content, previous_hash=previous, row_hash=row_hash))
        previous = row_hash
    return rows


contents_lists = st.lists(st.binary(max_size=48), min_size=1, max_size=16)
hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)


def test_empty_chain_is_valid_with_the_genesis_head() -> None:
    result = verify_chain([])
    assert (result.valid, result.rows_checked, result.head_hash) == (True, 0, GENESIS)


def test_link_hash_covers_previous_hash_and_content() -> None:
    assert link_hash(GENESIS, b"a") != link_hash(GENESIS, b"b")
    assert link_hash(GENESIS, b"a") != link_hash("f" * 64, b"a")
    assert len(link_hash(GENESIS, b"a")) == 64


@given(contents_lists, st.integers(1, 10_000))
def test_intact_chain_verifies(contents: list[bytes], first_seq: int) -> None:
    rows = build_chain(contents, first_seq)
    result = verify_chain(rows)
    assert result.valid
    assert result.rows_checked == len(rows)
    assert result.first_broken_seq is None
    assert result.head_hash == rows[-1].row_hash


@given(contents_lists, st.data())
def test_changed_content_is_found_at_its_row(contents: list[bytes], data: st.DataObject) -> None:
    rows = build_chain(contents)
    k = data.draw(st.integers(0, len(rows) - 1))
    forged = data.draw(st.binary(max_size=48))
    assume(forged != rows[k].content)
    rows[k] = replace(rows[k], content=forged)
    result = verify_chain(rows)
    assert not result.valid
    assert result.first_broken_seq == rows[k].seq
    assert result.rows_checked == k
    assert "content" in result.reason


@given(contents_lists, st.data())
def test_changed_row_hash_is_found_at_its_row(contents: list[bytes], data: st.DataObject) -> None:
    rows = build_chain(contents)
    k = data.draw(st.integers(0, len(rows) - 1))
    forged = data.draw(hex64)
    assume(forged != rows[k].row_hash)
    rows[k] = replace(rows[k], row_hash=forged)
    result = verify_chain(rows)
    assert not result.valid
    assert result.first_broken_seq == rows[k].seq


@given(contents_lists, st.data())
def test_changed_previous_hash_is_found_at_its_row(contents: list[bytes], data: st.DataObject) -> None:
    rows = build_chain(contents)
    k = data.draw(st.integers(0, len(rows) - 1))
    forged = data.draw(hex64)
    assume(forged != rows[k].previous_hash)
    rows[k] = replace(rows[k], previous_hash=forged)
    result = verify_chain(rows)
    assert not result.valid
    assert result.first_broken_seq == rows[k].seq
    assert "previous_hash" in result.reason


@given(st.lists(st.binary(max_size=48), min_size=2, max_size=16), st.data())
def test_deleted_row_is_found_at_the_row_after_it(contents: list[bytes], data: st.DataObject) -> None:
    rows = build_chain(contents)
    k = data.draw(st.integers(0, len(rows) - 2))
    survivor = rows[k + 1]
    del rows[k]
    result = verify_chain(rows)
    assert not result.valid
    assert result.first_broken_seq == survivor.seq
    assert result.rows_checked == k


@given(st.lists(st.binary(max_size=48), min_size=1, max_size=16))
def test_deleting_the_newest_rows_changes_the_head(contents: list[bytes]) -> None:
    """The links cannot show a cut tail; the head hash, compared with an anchored copy, does."""
    rows = build_chain(contents)
    head = verify_chain(rows).head_hash
    truncated = verify_chain(rows[:-1])
    assert truncated.head_hash != head
    assert truncated.rows_checked == len(rows) - 1


@given(st.lists(st.binary(max_size=48), min_size=2, max_size=16), st.data())
def test_reordered_rows_are_found_at_the_first_moved_row(contents: list[bytes], data: st.DataObject) -> None:
    rows = build_chain(contents)
    i = data.draw(st.integers(0, len(rows) - 2))
    j = data.draw(st.integers(i + 1, len(rows) - 1))
    rows[i], rows[j] = rows[j], rows[i]
    result = verify_chain(rows)
    assert not result.valid
    assert result.first_broken_seq == rows[i].seq  # the row that now sits where another belonged
    assert result.rows_checked == i


@given(contents_lists, st.data())
def test_rewriting_history_and_rehashing_everything_changes_the_head(
    contents: list[bytes], data: st.DataObject
) -> None:
    rows = build_chain(contents)
    k = data.draw(st.integers(0, len(rows) - 1))
    forged = data.draw(st.binary(max_size=48))
    assume(forged != contents[k])
    rewritten = build_chain([*contents[:k], forged, *contents[k + 1 :]])
    assert verify_chain(rewritten).valid
    assert verify_chain(rewritten).head_hash != verify_chain(rows).head_hash


@given(contents_lists, st.integers(0, 15))
def test_a_segment_verifies_from_its_checkpoint(contents: list[bytes], cut: int) -> None:
    rows = build_chain(contents)
    cut = min(cut, len(rows) - 1)
    checkpoint = rows[cut - 1].row_hash if cut else GENESIS
    assert verify_chain(rows[cut:], expected_previous=checkpoint).valid
    if cut:
        assert not verify_chain(rows[cut:]).valid, "a segment does not start at genesis"
