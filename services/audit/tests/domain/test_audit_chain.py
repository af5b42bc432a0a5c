"""The audit hash chain: an intact chain verifies; any edit (of any stored column), deletion,
reordering, cut or reused number is found, by the links or by the signed checkpoints and anchors."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given
from hypothesis import strategies as st

from anpr_audit.domain.chain import COLUMNS, GENESIS, NO_COLUMNS, ChainRow, link_hash, link_hash_v1
from anpr_audit.domain.checkpoints import sign_checkpoint, signature_holds
from anpr_audit.domain.verification import ChainCheck, verify_chain

KEY = Ed25519PrivateKey.generate()
T0 = 1_780_000_000_000_000
# When the test checkpoints are signed: after every row they cover was appended, as the service
# signs them (a checkpoint is never older than its rows).
SIGNED = T0 + 10**6


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
    signed = {rows[k].seq: sign_checkpoint(KEY, rows[k].seq, rows[k].row_hash, SIGNED) for k in marked}
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
    signed = {head.seq: sign_checkpoint(KEY, head.seq, head.row_hash, SIGNED)}
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
    signed = {head.seq: sign_checkpoint(KEY, head.seq, head.row_hash, SIGNED)}
    rewritten = build_chain([*contents[:k], forged, *contents[k + 1 :]])
    result = verify_chain(rewritten, checkpoints=signed, public_key=KEY.public_key())
    assert not result.valid
    assert result.first_broken_seq == head.seq
    assert "rewritten" in result.reason


def test_a_forged_checkpoint_is_reported() -> None:
    rows = build_chain([b"a", b"b", b"c"])
    forger = Ed25519PrivateKey.generate()
    forged = sign_checkpoint(forger, 2, rows[1].row_hash, SIGNED)
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


# --- every stored column, reused numbers, anchors -----------------------------------------------

# Any text a column can hold: no NUL (the appender replaces it), no lone surrogate (not UTF-8).
column_values = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=12)
stored_rows = st.lists(
    st.tuples(
        st.binary(max_size=32), st.integers(-(2**40), 2**52), st.tuples(*[column_values] * len(COLUMNS))
    ),
    min_size=1,
    max_size=12,
)


def build_stored_chain(
    rows: list[tuple[bytes, int, tuple[str, ...]]], first_seq: int = 1, previous: str = GENESIS, at: int = T0
) -> list[ChainRow]:
    chain = []
    for offset, (content, occurred, columns) in enumerate(rows):
        seq = first_seq + offset
        row_hash = link_hash(previous, seq, at + seq, content, occurred_us=occurred, columns=columns)
        chain.append(ChainRow(seq, at + seq, content, previous, row_hash, occurred, *columns))
        previous = row_hash
    return chain


@given(stored_rows, st.data())
def test_an_edit_of_any_stored_column_is_found_at_its_row(
    rows: list[tuple[bytes, int, tuple[str, ...]]], data: st.DataObject
) -> None:
    chain = build_stored_chain(rows)
    assert verify_chain(chain).valid
    k = data.draw(st.integers(0, len(chain) - 1))
    name = data.draw(st.sampled_from(["occurred_us", *COLUMNS]))
    if name == "occurred_us":
        chain[k] = chain[k]._replace(occurred_us=chain[k].occurred_us + data.draw(st.integers(1, 10**9)))
    else:
        forged = data.draw(column_values)
        assume(forged != getattr(chain[k], name))
        columns = dict(zip(COLUMNS, chain[k].columns, strict=True)) | {name: forged}
        chain[k] = ChainRow(*chain[k][:6], *columns.values())
    result = verify_chain(chain)
    assert (result.valid, result.first_broken_seq, result.rows_checked) == (False, chain[k].seq, k)
    assert "does not match its hash" in result.reason


@given(stored_rows, st.data())
def test_text_moved_between_columns_across_a_nul_is_reported(
    rows: list[tuple[bytes, int, tuple[str, ...]]], data: st.DataObject
) -> None:
    chain = build_stored_chain(rows)
    k = data.draw(st.integers(0, len(chain) - 1))
    # Same bytes once joined on NUL: the hash alone would not tell, so a NUL is never accepted.
    moved = chain[k]._replace(event_id=chain[k].event_id + "\x00" + chain[k].actor_user, actor_user="")
    chain[k] = moved._replace(
        actor_user=moved.actor_role, actor_role=moved.action, action=moved.service, service=moved.outcome
    )
    result = verify_chain(chain)
    assert (result.valid, result.first_broken_seq) == (False, chain[k].seq)


def test_link_hash_refuses_a_nul_or_a_missing_column() -> None:
    with pytest.raises(ValueError, match="NUL"):
        link_hash(GENESIS, 1, T0, b"a", columns=("a\x00b", *NO_COLUMNS[1:]))
    with pytest.raises(ValueError, match="columns"):
        link_hash(GENESIS, 1, T0, b"a", columns=("a",))


def test_a_row_of_the_earlier_chain_format_is_named_as_such() -> None:
    content = b"event"
    old = ChainRow(1, T0, content, GENESIS, link_hash_v1(GENESIS, 1, T0, content))
    result = verify_chain([old])
    assert (result.valid, result.first_broken_seq) == (False, 1)
    assert "earlier Schild version" in result.reason


@given(st.lists(st.binary(max_size=16), min_size=2, max_size=12), st.data())
def test_numbers_reused_after_a_cut_are_found_at_the_first_reused_seq(
    contents: list[bytes], data: st.DataObject
) -> None:
    rows = build_chain(contents)
    head = rows[-1]
    anchor = sign_checkpoint(KEY, head.seq, head.row_hash, SIGNED)
    cut = data.draw(st.integers(1, len(rows) - 1))
    kept = rows[:cut]
    # Appended again after the checkpoint was signed (as the service would, with the clock then),
    # as many rows as before or more, so the anchored seq itself may hold a new row.
    again = [data.draw(st.binary(min_size=1, max_size=16)) for _ in range(data.draw(st.integers(1, 12)))]
    reappended = build_chain(again, first_seq=cut + 1, previous=kept[-1].row_hash)
    reappended = [
        r._replace(
            appended_us=SIGNED + r.seq, row_hash=link_hash(r.previous_hash, r.seq, SIGNED + r.seq, r.content)
        )
        for r in reappended
    ]
    for i in range(1, len(reappended)):
        previous = reappended[i - 1].row_hash
        r = reappended[i]
        reappended[i] = r._replace(
            previous_hash=previous, row_hash=link_hash(previous, r.seq, r.appended_us, r.content)
        )
    result = verify_chain([*kept, *reappended], anchors=[anchor], public_key=KEY.public_key())
    assert not result.valid
    assert result.first_broken_seq == cut + 1
    assert "reused" in result.reason or "truncated" in result.reason


@given(st.lists(st.binary(max_size=16), min_size=1, max_size=12))
def test_a_wiped_log_is_reported_by_its_anchor(contents: list[bytes]) -> None:
    rows = build_chain(contents)
    anchor = sign_checkpoint(KEY, rows[-1].seq, rows[-1].row_hash, SIGNED)
    result = verify_chain([], anchors=[anchor], public_key=KEY.public_key())
    assert (result.valid, result.first_broken_seq, result.rows_checked) == (False, 1, 0)
    assert "wiped" in result.reason


def test_a_seq_seen_twice_is_a_reused_number() -> None:
    rows = build_chain([b"a", b"b", b"c"])
    result = verify_chain([*rows[:2], rows[1], rows[2]])
    assert (result.valid, result.first_broken_seq) == (False, 2)
    assert "reused" in result.reason


def test_an_anchor_that_disagrees_with_the_database_checkpoint_at_its_seq_is_found() -> None:
    rows = build_chain([b"a", b"b", b"c"])
    honest = replace(sign_checkpoint(KEY, 2, rows[1].row_hash, SIGNED), source="database")
    other = replace(sign_checkpoint(KEY, 2, "f" * 64, SIGNED), source="anchor file")
    result = verify_chain(rows, checkpoints={2: honest}, anchors=[other], public_key=KEY.public_key())
    assert (result.valid, result.first_broken_seq) == (False, 2)
    assert "rewritten" in result.reason and "anchor file" in result.reason


def test_a_forged_newest_checkpoint_among_real_ones_is_found() -> None:
    rows = build_chain([b"a", b"b", b"c", b"d"])
    real = sign_checkpoint(KEY, 2, rows[1].row_hash, SIGNED)
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), 4, rows[3].row_hash, SIGNED)
    result = verify_chain(rows, checkpoints={2: real}, anchors=[forged], public_key=KEY.public_key())
    assert (result.valid, result.first_broken_seq) == (False, 4)
    assert "signature" in result.reason


@given(st.lists(st.binary(max_size=16), min_size=1, max_size=12), st.data())
def test_checkpoints_in_and_out_of_the_database_agreeing_with_the_chain_verify(
    contents: list[bytes], data: st.DataObject
) -> None:
    rows = build_chain(contents)
    marked = data.draw(st.sets(st.integers(0, len(rows) - 1), min_size=1))
    signed = [sign_checkpoint(KEY, rows[k].seq, rows[k].row_hash, SIGNED + k) for k in sorted(marked)]
    in_database = {c.seq: c for c in signed if data.draw(st.booleans())}
    result = verify_chain(rows, checkpoints=in_database, anchors=signed, public_key=KEY.public_key())
    assert result.valid
    assert result.checkpoints_checked == len(marked)
