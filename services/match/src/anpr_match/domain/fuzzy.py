"""How a read matches a listed plate. No I/O.

A read matches a listed plate when, character by character, it differs only by OCR-confusable
characters (the zone's classes of anpr_core.plates: 0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G by default),
at most `max_substitutions` of them, and, on lists that allow it, by one inserted or missing
character. Arbitrary substitutions never match: they are what turns a hotlist into a stream of
false alarms.
"""

from __future__ import annotations

from collections.abc import Sequence

from anpr_core.plates import Confusables
from anpr_match.domain.entries import MatchKind

# Score of a match: the reading's confidence, lowered per confusable substitution and for an edit.
SUBSTITUTION_PENALTY = 0.1
EDIT_PENALTY = 0.2


def compare(
    read: str, listed: str, max_substitutions: int, allow_edit: bool, confusables: Confusables
) -> tuple[MatchKind, tuple[int, ...]] | None:
    """How `read` matches `listed` under the rules, or None. The reference the index must agree with."""
    if read == listed:
        return MatchKind.EXACT, ()
    canonical = confusables.canonical
    if len(read) == len(listed):
        if canonical(read) != canonical(listed):
            return None
        differing = tuple(i for i, (a, b) in enumerate(zip(read, listed, strict=True)) if a != b)
        return (MatchKind.CONFUSABLE, differing) if len(differing) <= max_substitutions else None
    if not allow_edit or abs(len(read) - len(listed)) != 1:
        return None
    read_is_longer = len(read) > len(listed)
    longer, shorter = (read, listed) if read_is_longer else (listed, read)
    shorter_key = canonical(shorter)
    best: tuple[int, ...] | None = None
    for removed in range(len(longer)):
        rest = longer[:removed] + longer[removed + 1 :]
        if canonical(rest) != shorter_key:
            continue
        substituted = [i for i, (a, b) in enumerate(zip(rest, shorter, strict=True)) if a != b]
        if len(substituted) > max_substitutions:
            continue
        if read_is_longer:
            positions = {removed, *substituted}
        else:
            positions = {removed, *(i if i < removed else i + 1 for i in substituted)}
        candidate = tuple(sorted(positions))
        if best is None or len(candidate) < len(best):
            best = candidate
    return None if best is None else (MatchKind.EDIT, best)


def score_of(confidence: float, kind: MatchKind, differing: Sequence[int]) -> float:
    if kind is MatchKind.EXACT:
        return float(confidence)
    penalty = SUBSTITUTION_PENALTY * len(differing) + (EDIT_PENALTY if kind is MatchKind.EDIT else 0.0)
    return max(0.0, float(confidence) * (1.0 - penalty))


def deletions(key: str) -> set[str]:
    return {key[:i] + key[i + 1 :] for i in range(len(key))}
