"""Constrained beam search over a CTC lattice: the most probable readings that fit a known format.

A CTC prefix beam search (Viterbi: the best alignment of each prefix, not the sum) in which a prefix
lives only while the format automaton can still complete it; separators are read along (a "-" in
the prefix) but do not constrain it. Each character is scored by the recogniser's probability plus
a share of its look-alike's (0 for O, 1 for I...): plate fonts make those pairs nearly identical,
and the recogniser is often sure of the wrong one; the share (`lookalike_weight`) is what a swap
in a position the format dictates costs. Pure; numpy for the per-timestep tables, a dictionary
beam for the search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from anpr_detect.domain.automaton import DEAD, FormatAutomaton
from anpr_detect.domain.grammar import LOOK_ALIKE_PAIRS
from anpr_detect.domain.lattice import BLANK, CLASSES, SEPARATOR, Lattice

__all__ = ["BeamResult", "Hypothesis", "constrained_beam"]

_NEVER = -math.inf
# A class below this (after the look-alike share) is not worth a branch at that timestep.
_MIN_BRANCH = 1e-3
_LOOK_ALIKE = np.zeros((len(CLASSES), len(CLASSES)), np.float64)
for _pair in LOOK_ALIKE_PAIRS:
    _first, _second = sorted(_pair)
    _LOOK_ALIKE[CLASSES.index(_first), CLASSES.index(_second)] = 1.0
    _LOOK_ALIKE[CLASSES.index(_second), CLASSES.index(_first)] = 1.0
# A class and its look-alikes: one may follow the other only across a blank, as a repeat does, so
# that the look-alike share of a character held over two timesteps never makes a second one.
_SAME_SHAPE: tuple[frozenset[int], ...] = tuple(
    frozenset({index, *np.nonzero(_LOOK_ALIKE[index])[0].tolist()}) for index in range(len(CLASSES))
)


@dataclass(frozen=True)
class Hypothesis:
    text: str  # as read along the best alignment: A-Z0-9, and "-" where a separator was read
    log_score: float  # that alignment's log score (look-alike shares included)
    state: int  # the automaton's state after the text
    probabilities: tuple[float, ...]  # the recogniser's own probability of each A-Z0-9 character


@dataclass(frozen=True)
class BeamResult:
    accepted: tuple[Hypothesis, ...]  # hypotheses a format accepts, best first
    best_log_score: float  # the unconstrained best path's log score, on the same scale


def constrained_beam(
    lattice: Lattice,
    automaton: FormatAutomaton,
    *,
    lookalike_weight: float,
    beam_width: int,
    separator_drop: float,
    margin: float = math.inf,
) -> BeamResult:
    """The readings of `lattice` that the automaton accepts, best first, at most `beam_width`.

    `separator_drop`: a separator the recogniser read may be skipped at this share of its
    probability (a gap on the plate is not always a separator of the format). `margin`: readings
    scoring more than this below the unconstrained best path are of no use to the caller; a prefix
    that cannot end within it even at the best of every remaining timestep is dropped, and so is a
    character that far below the best class of its timestep."""
    probabilities = np.asarray(lattice.probabilities, dtype=np.float64)
    if probabilities.shape[0] == 0:
        return BeamResult((), 0.0)
    scores = probabilities + lookalike_weight * (probabilities @ _LOOK_ALIKE)
    blank = np.maximum(scores[:, BLANK], separator_drop * scores[:, SEPARATOR])
    with np.errstate(divide="ignore"):
        log_scores = np.log(scores)
        log_blank = np.log(blank)
    best_per_step = np.maximum(log_scores[:, 1:].max(axis=1), log_blank)
    best_log_score = float(best_per_step.sum())
    # The best any prefix can still gain after each timestep: the bound that prunes hopeless ones.
    still = np.concatenate([np.cumsum(best_per_step[::-1])[::-1][1:], [0.0]]).tolist()
    floor = best_log_score - margin
    steps = _branches(scores, log_scores, probabilities, best_per_step - margin)

    # prefix -> [best score ending in a blank, ending in its last character, automaton state,
    #            last class, recogniser probabilities along each of the two alignments]
    beam: dict[str, list[Any]] = {"": [0.0, _NEVER, 0, BLANK, (), ()]}
    quiet: float | None = None  # blank log scores of timesteps with no branch, applied lazily
    for timestep in range(probabilities.shape[0]):
        branches = steps[timestep]
        if not branches:
            quiet = (quiet or 0.0) + float(log_blank[timestep])
            continue
        if quiet is not None:
            _after_quiet(beam, quiet)
            quiet = None
        beam = _step(
            beam,
            branches,
            float(log_blank[timestep]),
            log_scores[timestep],
            probabilities[timestep],
            automaton,
        )
        bound = floor - still[timestep]
        ranked = sorted(
            (item for item in beam.items() if max(item[1][0], item[1][1]) >= bound),
            key=lambda item: max(item[1][0], item[1][1]),
            reverse=True,
        )
        beam = dict(ranked[:beam_width])
    accepted = []
    for text, (blank_score, char_score, state, _, blank_path, char_path) in beam.items():
        if automaton.accepting(state):
            score, path = (blank_score, blank_path) if blank_score >= char_score else (char_score, char_path)
            accepted.append(Hypothesis(text.rstrip("-"), score + (quiet or 0.0), state, path))
    accepted.sort(key=lambda hypothesis: hypothesis.log_score, reverse=True)
    return BeamResult(tuple(accepted), best_log_score)


def _branches(
    scores: npt.NDArray[np.float64],
    log_scores: npt.NDArray[np.float64],
    probabilities: npt.NDArray[np.float64],
    lowest: npt.NDArray[np.float64],
) -> list[list[tuple[int, str, float, float]]]:
    """Per timestep, the classes worth a branch: (class, character, log score, recogniser's p)."""
    steps: list[list[tuple[int, str, float, float]]] = [[] for _ in range(scores.shape[0])]
    worth = (scores[:, 1:] >= _MIN_BRANCH) & (log_scores[:, 1:] >= lowest[:, None])
    timesteps, classes = np.nonzero(worth)
    for timestep, offset in zip(timesteps.tolist(), classes.tolist(), strict=True):
        index = offset + 1
        steps[timestep].append(
            (index, CLASSES[index], float(log_scores[timestep, index]), float(probabilities[timestep, index]))
        )
    return steps


def _after_quiet(beam: dict[str, list[Any]], log_blank: float) -> None:
    # Timesteps where only the blank is likely: every prefix ends in a blank after them.
    for entry in beam.values():
        if entry[1] > entry[0]:
            entry[0], entry[4] = entry[1], entry[5]
        entry[0] += log_blank
        entry[1], entry[5] = _NEVER, ()


def _step(
    beam: dict[str, list[Any]],
    branches: list[tuple[int, str, float, float]],
    log_blank: float,
    log_row: npt.NDArray[np.float64],
    row: npt.NDArray[np.float64],
    automaton: FormatAutomaton,
) -> dict[str, list[Any]]:
    following: dict[str, list[Any]] = {}
    step = automaton.step
    for text, (blank_score, char_score, state, last, blank_path, char_path) in beam.items():
        best, best_path = (blank_score, blank_path) if blank_score >= char_score else (char_score, char_path)
        # Stay: a blank now, or the same character held over another timestep.
        entry = following.get(text)
        if entry is None:
            entry = following[text] = [_NEVER, _NEVER, state, last, (), ()]
        if best + log_blank > entry[0]:
            entry[0], entry[4] = best + log_blank, best_path
        if last != BLANK and char_score > _NEVER and char_score + float(log_row[last]) > entry[1]:
            path = char_path
            if last != SEPARATOR:
                path = (*char_path[:-1], max(char_path[-1], float(row[last])))
            entry[1], entry[5] = char_score + float(log_row[last]), path
        for index, character, log_score, probability in branches:
            if index in _SAME_SHAPE[last]:
                start, start_path = blank_score, blank_path  # a repeat needs a blank between
            else:
                start, start_path = best, best_path
            if start == _NEVER:
                continue
            if index == SEPARATOR:
                if not text or text[-1] == "-":
                    continue  # a separator leads nothing and follows no separator
                target, extended, path = state, text + "-", start_path
            else:
                target = step(state, character)
                if target == DEAD:
                    continue
                extended, path = text + character, (*start_path, probability)
            score = start + log_score
            entry = following.get(extended)
            if entry is None:
                following[extended] = [_NEVER, score, target, index, (), path]
            elif score > entry[1]:
                entry[1], entry[5] = score, path
    return following
