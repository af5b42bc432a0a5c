"""Event ids made in bulk are UUIDv7s like the ones made one at a time."""

from __future__ import annotations

import itertools
import time
import uuid

from anpr_core.ids import event_ids


def test_bulk_ids_are_unique_uuid7s_with_the_current_milliseconds() -> None:
    before_ms = time.time_ns() // 1_000_000
    ids = list(itertools.islice(event_ids(block=64), 1000))
    after_ms = time.time_ns() // 1_000_000
    assert len(set(ids)) == 1000
    for text in ids:
        value = uuid.UUID(text)
        assert str(value) == text
        assert (value.version, value.variant) == (7, uuid.RFC_4122)
        assert before_ms <= value.int >> 80 <= after_ms


def test_bulk_ids_use_every_variant_digit() -> None:
    variants = {text[19] for text in itertools.islice(event_ids(), 2000)}
    assert variants == set("89ab")
