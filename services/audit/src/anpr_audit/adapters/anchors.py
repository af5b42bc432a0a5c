"""Anchors: each signed checkpoint, kept outside the database too, where the log's writer cannot
rewrite it. A wiped log, a cut tail or a restored older backup is then caught by comparing the
database with the newest anchor (domain.verification.ChainCheck).

Two places, each a JSON line per checkpoint (`anchor_line`), readable with the public key alone:
- a file the auditor keeps (anchor_file.AnchorFile): opened for appending only, on a volume of
  its own, made append-only (`chattr +a`: not even its owner may then rewrite or truncate it) and
  copied off by the auditor; the embedded mode keeps it under the data directory. The
  in-process bus is no anchor: it lives and dies with the process that writes the log.
- a Kafka topic (anchor_topic.AnchorTopic, anpr.audit.anchors.v1): one partition, records deleted
  never (cleanup.policy=delete, retention unlimited: compaction would let a later record replace
  an earlier one), writable by the audit service's principal only and deletable by no one but
  the cluster's administrators (ACLs; see the README).

This module holds what both share: the line format, the store's interface, and reading them all.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from aiokafka.errors import KafkaError
from prometheus_client import Counter

from anpr_audit.domain.chain import from_micros
from anpr_audit.domain.checkpoints import Checkpoint

log = logging.getLogger(__name__)

FORMAT = "schild-audit-anchor/1"

ANCHOR_FAILURES = Counter(
    "anpr_audit_anchor_failures_total", "Signed checkpoints an anchor store did not take", ["store"]
)


class AnchorError(ValueError):
    """An anchor store or line cannot be used; the message says which and why."""


def anchor_record(checkpoint: Checkpoint, zone_id: str) -> dict[str, Any]:
    return {
        "type": "anchor",
        "format": FORMAT,
        "zone_id": zone_id,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": from_micros(checkpoint.created_us).isoformat(),
        "created_us": checkpoint.created_us,
        "key_id": checkpoint.key_id,
        "signature_b64": base64.b64encode(checkpoint.signature).decode(),
    }


def anchor_line(checkpoint: Checkpoint, zone_id: str) -> str:
    return json.dumps(anchor_record(checkpoint, zone_id), sort_keys=True, separators=(",", ":")) + "\n"


def parse_anchor(record: Any, source: str) -> Checkpoint:
    """A checkpoint from an anchor line's record (or an export's checkpoint record)."""
    if not isinstance(record, dict) or record.get("type") not in ("anchor", "checkpoint"):
        raise AnchorError("not an anchor record (a JSON object of type 'anchor')")
    try:
        checkpoint = Checkpoint(
            int(record["seq"]),
            str(record["head_hash"]),
            int(record["created_us"]),
            str(record["key_id"]),
            base64.b64decode(record["signature_b64"], validate=True),
            source,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise AnchorError(f"an anchor record without a valid {error}") from error
    if checkpoint.seq < 1 or len(checkpoint.head_hash) != 64:
        raise AnchorError("an anchor record with an impossible seq or head hash")
    return checkpoint


def read_anchor_lines(lines: Iterable[str], source: str, zone_id: str | None = None) -> list[Checkpoint]:
    """Every anchor of `lines` (of `zone_id` only, where given); an unreadable line is an error
    naming it."""
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            checkpoint = parse_anchor(record, source)
        except (ValueError, AnchorError) as error:
            raise AnchorError(f"{source}, line {number}: {error}") from error
        if zone_id is None or record.get("zone_id") in (None, zone_id):
            found.append(checkpoint)
    return found


class AnchorStore(Protocol):
    name: str

    async def append(self, checkpoint: Checkpoint) -> None:
        """Returns once the anchor is durable; raises otherwise."""

    async def newest(self) -> Checkpoint | None: ...

    async def since(self, after_seq: int) -> list[Checkpoint]:
        """Anchors beyond `after_seq`, cheaply: only what was added since the last call is read.
        `after_seq` never decreases from call to call."""

    async def read(self, after_seq: int = 0, last_seq: int | None = None) -> list[Checkpoint]:
        """The anchors the store holds in (after_seq, last_seq]: all of them for the file."""

    async def close(self) -> None: ...


async def gather_anchors(stores: Sequence[AnchorStore], method: str, *args: int | None) -> list[Checkpoint]:
    """Calls `method` on every store; a store that fails is logged and counted, never fatal, since
    the others (and the database's checkpoints) still count."""
    found: list[Checkpoint] = []
    for store in stores:
        try:
            result = await getattr(store, method)(*args)
        except (OSError, KafkaError, AnchorError, TimeoutError) as error:
            ANCHOR_FAILURES.labels(store.name.split(" ")[1]).inc()
            log.error("the %s could not be read: %s", store.name, error)
            continue
        if isinstance(result, Checkpoint):
            found.append(result)
        elif result is not None:
            found.extend(result)
    return found
