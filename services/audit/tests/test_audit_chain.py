"""The audit hash chain: an intact chain verifies; any edit, deletion or reordering is found."""

from __future__ import annotations

from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given
from hypothesis import strategies as st

from anpr_audit.chain import (
    GENESIS,
    ChainCheck,
    ChainRow,
    link_hash,
    sign_checkpoint,
    signature_holds,
    verify_chain,
)

KEY = Ed25519PrivateKey.generate()
T0 = 1_780_000_000_000_000


def build_chain(contents: list[bytes], first_seq: int = 1, previous: str = GENESIS) -> list[ChainRow]:
    rows = []
    for offset, content in enumerate(contents):
        seq = first_seq + offset
        row_hash = link_hash(previous, seq, T0 + seq, content)
        rows.append(ChainRow(seq, T0 + seq, content, previous_hash=previous, row_hash=row_hash))
        previous = row_hash
    return rows


contents_lists = st.lists(st.binary(max_size=48), min_size=1, max_size=16)
hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)


def test_empty_chain_is_valid_with_the_genesis_head() -> None:
    result = verify_chain([])
    assert (result.valid, result.rows_checked, result.head_hash) == (True, 0, GENESIS)


def test_link_hash_covers_previous_hash_position_time_and_content() -> None:
    base = link_hash(GENESIS, 1, T0, b"a")
    assert base != link_hash(GENESIS, 1, T0, b"b")
    assert base != link_hash("f" * 64, 1, T0, b"a")
    assert base != link_hash(GENESIS, 2, T0, b"a")
    assert base != link_hash(GENESIS, 1, T0 + 1, b"a")
    assert len(base) == 64


@given(contents_lists, st.integers(1, 10_000))
def test_intact_chain_verifies(contents: list[bytes], first_seq: int) -> None:
    rows = build_chain(contents, first_seq)
    result = verify_chain(rows, after_seq=first_seq - 1)
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
    rows[k] = rows[k]._replace(content=forged)
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
    rows[k] = rows[k]._replace(row_hash=forged)
    result = verify_chain(rows)
    assert not result.valid
    assert result.first_broken_seq == rows[k].seq


@given(contents_lists, st.data())
def test_changed_previous_hash_is_found_at_its_row(contents: list[bytes], data: st.DataObject) -> None:
    rows = build_chain(contents)
    k = data.draw(st.integers(0, len(rows) - 1))
    forged = data.draw(hex64)
    assume(forged != rows[k].previous_hash)
    rows[k] = rows[k]._replace(previous_hash=forged)
    result = verify_chain(rows)
    assert not result.valid
    assert result.first_broken_seq == rows[k].seq
    assert "previous_hash" in result.reason


@given(st.lists(st.binary(max_size=48), min_size=2, max_size=16), st.data())
def test_deleted_row_is_found_at_the_row_after_it(contents: list[bytes], data: st.DataObject) -> None:
    rows = build_chain(contents)
    k = data.draw(st.integers(0, len(rows) - 2))
    missing = rows[k].seq
    del rows[k]
    result = verify_chain(rows)
    assert not result.valid
    assert result.first_broken_seq == missing
    assert "missing" in result.reason
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
    assert result.first_broken_seq == i + 1  # the place where another row now sits
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
    assert verify_chain(rows[cut:], expected_previous=checkpoint, after_seq=cut).valid
    if cut:
        assert not verify_chain(rows[cut:], after_seq=cut).valid, "a segment does not start at genesis"


@given(contents_lists, st.data())
def test_renumbered_or_retimed_rows_break_their_hash(contents: list[bytes], data: st.DataObject) -> None:
    rows = build_chain(contents)
    k = data.draw(st.integers(0, len(rows) - 1))
    rows[k] = rows[k]._replace(appended_us=rows[k].appended_us + data.draw(st.integers(1, 10**9)))
    result = verify_chain(rows)
    assert (result.valid, result.first_broken_seq) == (False, rows[k].seq)


# --- signed checkpoints -------------------------------------------------------------------------


@given(contents_lists, st.data())
def test_signed_checkpoints_on_an_intact_chain_verify(contents: list[bytes], data: st.DataObject) -> None:
    rows = build_chain(contents)
    marked = data.draw(st.sets(st.integers(0, len(rows) - 1), min_size=1))
    signed = {rows[k].seq: sign_checkpoint(KEY, rows[k].seq, rows[k].row_hash, T0) for k in marked}
    result = verify_chain(rows, checkpoints=signed, public_key=KEY.public_key())
    assert result.valid
    assert result.checkpoints_checked == len(marked)


def test_a_checkpoint_signature_binds_seq_hash_and_time() -> None:
    signed = sign_checkpoint(KEY, 7, "a" * 64, T0)
    assert signature_holds(KEY.public_key(), signed)
    assert not signature_holds(KEY.public_key(), replace(signed, seq=8))
    assert not signature_holds(KEY.public_key(), replace(signed, head_hash="b" * 64))
    assert not signature_holds(KEY.public_key(), replace(signed, created_us=T0 + 1))
    assert not signature_holds(Ed25519PrivateKey.generate().public_key(), signed)


@given(st.lists(st.binary(max_size=48), min_size=2, max_size=16), st.data())
def test_cutting_rows_from_the_end_is_found_by_the_checkpoint_beyond_the_head(
    contents: list[bytes], data: st.DataObject
) -> None:
    rows = build_chain(contents)
    head = rows[-1]
    signed = {head.seq: sign_checkpoint(KEY, head.seq, head.row_hash, T0)}
    cut = data.draw(st.integers(1, len(rows) - 1))
    result = verify_chain(rows[:-cut], checkpoints=signed, public_key=KEY.public_key())
    assert not result.valid
    assert result.first_broken_seq == len(rows) - cut + 1
    assert "truncated" in result.reason


@given(contents_lists, st.data())
def test_rewriting_and_rehashing_history_is_found_by_a_later_checkpoint(
    contents: list[bytes], data: st.DataObject
) -> None:
    rows = build_chain(contents)
    k = data.draw(st.integers(0, len(rows) - 1))
    forged = data.draw(st.binary(max_size=48))
    assume(forged != contents[k])
    head = rows[-1]
    signed = {head.seq: sign_checkpoint(KEY, head.seq, head.row_hash, T0)}
    rewritten = build_chain([*contents[:k], forged, *contents[k + 1 :]])
    result = verify_chain(rewritten, checkpoints=signed, public_key=KEY.public_key())
    assert not result.valid
    assert result.first_broken_seq == head.seq
    assert "rewritten" in result.reason


def test_a_forged_checkpoint_is_reported() -> None:
    rows = build_chain([b"a", b"b", b"c"])
    forger = Ed25519PrivateKey.generate()
    forged = sign_checkpoint(forger, 2, rows[1].row_hash, T0)
    result = verify_chain(rows, checkpoints={2: forged}, public_key=KEY.public_key())
    assert (result.valid, result.first_broken_seq) == (False, 2)
    assert "signature" in result.reason


@given(st.lists(st.binary(max_size=48), min_size=1, max_size=40), st.integers(1, 7))
def test_feeding_in_batches_gives_the_same_verdict(contents: list[bytes], size: int) -> None:
    rows = build_chain(contents)
    check = ChainCheck()
    for start in range(0, len(rows), size):
        assert check.feed(rows[start : start + size])
    assert check.finish() == verify_chain(rows)
