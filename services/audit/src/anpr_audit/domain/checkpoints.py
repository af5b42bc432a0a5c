"""Signed checkpoints of the chain's head (RFC 6962's signed tree heads, for a chain). No I/O.

Links cannot show rows cut from the end, or numbers reused after a cut; Ed25519-signed checkpoints
of the head, kept also outside the database (anchors), can (domain.verification).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_CHECKPOINT_DOMAIN = b"schild-audit-checkpoint/1\n"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: when the checkpoint was made, the chain's row `seq` had hash `head_hash`.

    `created_us` is never earlier than the append time of the row it signs. `source` says where it
    was found (the database, the anchor file, the anchor topic), for messages only.
    """

    seq: int
    head_hash: str
    created_us: int
    key_id: str
    signature: bytes
    source: str = field(default="", compare=False)


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(seq: int, head_hash: str, created_us: int) -> bytes:
    return _CHECKPOINT_DOMAIN + f"{seq}\n{head_hash}\n{created_us}".encode()


def sign_checkpoint(key: Ed25519PrivateKey, seq: int, head_hash: str, created_us: int) -> Checkpoint:
    signature = key.sign(checkpoint_message(seq, head_hash, created_us))
    return Checkpoint(seq, head_hash, created_us, key_id(key.public_key()), signature)


def signature_holds(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    try:
        public_key.verify(
            checkpoint.signature,
            checkpoint_message(checkpoint.seq, checkpoint.head_hash, checkpoint.created_us),
        )
    except InvalidSignature:
        return False
    return True


def newest(checkpoints: Iterable[Checkpoint | None]) -> Checkpoint | None:
    """The checkpoint with the highest seq (the latest signed, on a tie)."""
    found = [c for c in checkpoints if c is not None]
    return max(found, key=lambda c: (c.seq, c.created_us)) if found else None


class NothingSigned(Exception):
    """No checkpoint was signed on request; the message says why."""


class ChainBroken(NothingSigned):
    """The chain does not verify: no checkpoint is ever signed over a broken chain."""


class EmptyLog(NothingSigned):
    """The log holds no rows yet: there is no head to sign."""
