"""What a CTC recogniser saw, character by character, and the readings it makes likely.

Pure functions over the recogniser's per-timestep class probabilities (PP-OCR's softmax output).
The greedy decode is PaddleOCR's own (first timestep of each run of one class, blanks dropped), so
the best string is exactly the engine's; each character keeps its probability and the runner-up
classes at the same timestep. From those, the k most probable strings that differ from the best
in one or two characters: the grammar can then choose between "O" and "0" on the model's evidence,
not only on the look-alike table.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["CharacterReading", "greedy_characters", "top_k_readings"]

_BLANK = 0  # PaddleOCR's CTC blank class
# An alternative below this probability is noise, not a reading worth trying.
_MIN_ALTERNATIVE_PROBABILITY = 0.05


@dataclass(frozen=True)
class CharacterReading:
    character: str
    probability: float
    alternatives: tuple[tuple[str, float], ...]  # runner-up characters at the same timestep, best first


def greedy_characters(
    probabilities: npt.NDArray[np.float32], alphabet: Sequence[str], alternatives: int = 2
) -> tuple[CharacterReading, ...]:
    """The best path, character by character: probabilities is (timesteps, classes), alphabet[0]
    the blank. Matches PaddleOCR's CTCLabelDecode with duplicate removal."""
    best = probabilities.argmax(axis=1)
    characters: list[CharacterReading] = []
    previous = -1
    for timestep, index in enumerate(best.tolist()):
        if index != previous and index != _BLANK:
            row = probabilities[timestep]
            # The few best classes of a row of thousands (PP-OCR's dictionary): a partition, not a sort.
            top = min(alternatives + 2, row.shape[0])
            leaders = np.argpartition(row, -top)[-top:]
            ranked = leaders[np.argsort(row[leaders])[::-1]].tolist()
            runners_up = tuple(
                (alphabet[other], float(row[other]))
                for other in ranked
                if other not in (index, _BLANK) and float(row[other]) >= _MIN_ALTERNATIVE_PROBABILITY
            )[:alternatives]
            characters.append(CharacterReading(alphabet[index], float(row[index]), runners_up))
        previous = index
    return tuple(characters)


def top_k_readings(
    characters: Sequence[CharacterReading], k: int = 5, max_changes: int = 2
) -> list[tuple[str, float]]:
    """The k most probable strings (best first), each with the mean probability of its characters
    (the engine's own line score): the best path, then strings with up to `max_changes` characters
    swapped for a runner-up."""
    if not characters or k <= 0:
        return []
    best_text = "".join(c.character for c in characters)
    # Each change: (loss of log probability, position, character, probability).
    changes = sorted(
        (_log(c.probability) - _log(p), position, alternative, p)
        for position, c in enumerate(characters)
        for alternative, p in c.alternatives
    )
    results = [(best_text, _mean(c.probability for c in characters))]
    # Best-first over sets of changes at distinct positions: a heap of (total loss, chosen indices).
    heap: list[tuple[float, tuple[int, ...]]] = [(loss, (index,)) for index, (loss, *_) in enumerate(changes)]
    heapq.heapify(heap)
    seen: set[tuple[int, ...]] = set()
    while heap and len(results) < k:
        loss, chosen = heapq.heappop(heap)
        if chosen in seen:
            continue
        seen.add(chosen)
        positions = {changes[i][1] for i in chosen}
        if len(positions) == len(chosen):
            swapped = {changes[i][1]: (changes[i][2], changes[i][3]) for i in chosen}
            text = "".join(swapped.get(p, (c.character, 0.0))[0] for p, c in enumerate(characters))
            probability = _mean(
                swapped.get(p, (c.character, c.probability))[1] for p, c in enumerate(characters)
            )
            results.append((text, probability))
        if len(chosen) < max_changes:
            for extra in range(chosen[-1] + 1, len(changes)):
                heapq.heappush(heap, (loss + changes[extra][0], (*chosen, extra)))
    return results


def _log(probability: float) -> float:
    return math.log(max(probability, 1e-9))


def _mean(values: Iterable[float]) -> float:
    numbers = list(values)
    return sum(numbers) / len(numbers) if numbers else 0.0
