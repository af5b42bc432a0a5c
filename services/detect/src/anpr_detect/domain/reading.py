"""Reading a plate along the national formats: which reading, which country, how sure.

The decoder (decoding.py) proposes the readings of the recogniser's output that fit a format; this
module scores them and decides. A reading's score is the recogniser's log score plus the log of
its country's prior, its format's weight, how its separators agree with the format's, and how it
was entered (behind the country's band sign read on the plate: evidence for that country; behind a
stray letter: a cost). The raw reading, unvalidated, competes at a fixed low weight, so that a
reading no format fits well stays as read, with no country, as before. Two rules protect good
readings: a raw reading that already fits a format, read with high probability, is never changed
(its country and format may still be chosen among the formats that fit it); and a reading known
only as text (no recogniser output) is changed in at most one look-alike character.
Pure: settings and the table come in, an interpretation comes out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from anpr_detect.domain.automaton import Entry, FormatAutomaton, Path
from anpr_detect.domain.decoding import Hypothesis, constrained_beam
from anpr_detect.domain.formats import FormatTable, format_table
from anpr_detect.domain.interpretation import PlateInterpretation, PlateReading
from anpr_detect.domain.lattice import Lattice
from anpr_detect.domain.priors import BELGIAN_ZONE, CountryPriors

__all__ = ["PlateDecoder", "ReadingSettings"]

_MIN_READING_LENGTH = 2
_TOP_READINGS = 3
# An unvalidated reading reports half its reading confidence, as the earlier grammar did.
_UNKNOWN_FIT = 0.5
# Texts this long or longer fit a format by design rather than by chance (most plates: 6-8).
_DISTINCTIVE_LENGTH = 6
# A character the recogniser gave less than this is one the format put there (a look-alike swap).
_SWAPPED = 1e-6


@dataclass(frozen=True)
class ReadingSettings:
    priors: CountryPriors = BELGIAN_ZONE
    # What a look-alike costs where the format demands it: the share of the other character's
    # probability that counts for it. Against the recogniser's output it is small (x0.05): a swap
    # the recogniser gave no weight to is taken only into a likely format (BE, NL, FR: what the
    # earlier grammar repaired), one into any other country needs the recogniser's own doubt (a
    # few per cent for the other character). A correctly read plate of a country the table does
    # not know (a US plate) is thereby not bent into a European one.
    lookalike_weight: float = 0.05
    # A reading known only as text carries no such doubt: every character counts as certain, and
    # a swap costs what the earlier grammar's repair did relative to an unknown reading.
    text_lookalike_weight: float = 0.25
    # The raw reading, no format, competes at this weight against the readings the decoder changed
    # (a character swapped, dropped or added): one of those is taken only where its country, its
    # format and the recogniser make it at least this likely (x0.25 per look-alike in a text, the
    # recogniser's own doubt otherwise). A raw reading that fits a format as read is never below it.
    unknown_weight: float = 0.1
    # A raw reading that fits a format and whose least sure character is at least this is kept.
    sure_probability: float = 0.9
    beam_width: int = 12
    separator_drop: float = 0.3  # a separator read but skipped
    separator_mismatch: float = 0.3  # a separator read where the format prints none
    separators_missing: float = 0.9  # fewer separators read than the format prints (often)
    band_bonus: float = 2.0  # the country's band sign read before the plate
    stray_penalty: float = 0.4  # a stray letter before the plate
    # Readings known only as text: at most this many look-alike swaps.
    text_swaps: int = 1
    # Shorter readings are never changed: almost any four characters fit some format after a swap.
    min_repair_length: int = 5


@dataclass(frozen=True)
class _Candidate:
    body: str  # the plate: the hypothesis without its entry prefix, A-Z0-9
    full: str  # the hypothesis, A-Z0-9
    path: Path
    score: float
    probabilities: tuple[float, ...]  # of the body's characters
    boundaries: frozenset[int]  # separators read, as positions in the body
    agreement: float  # how the separators read agree with the format's (1.0: as printed)


@cache
def _automaton(table: FormatTable) -> FormatAutomaton:
    return FormatAutomaton(table)


class PlateDecoder:
    """Reads lattices and texts along a format table (the packaged one unless given)."""

    def __init__(self, settings: ReadingSettings | None = None, table: FormatTable | None = None) -> None:
        self.settings = settings or ReadingSettings()
        self.table = table or format_table()
        self._automaton = _automaton(self.table)
        # A reading further than this below the recogniser's best path loses to the raw reading
        # whatever its country, format and band: the decoder need not look for it.
        most = max([*self.settings.priors.weights.values(), self.settings.priors.default])
        self._margin = math.log(most * max(1.0, self.settings.band_bonus) / self.settings.unknown_weight)

    @property
    def automaton_states(self) -> int:
        """How many automaton states the readings so far have needed (they are built on demand)."""
        return self._automaton.state_count

    def read_text(self, candidates: Sequence[tuple[str, float]]) -> PlateInterpretation | None:
        """The best interpretation of readings known only as text (best first): the valid one with
        the highest confidence, else the first usable reading, unvalidated; None when no reading
        has two plate characters."""
        best: PlateInterpretation | None = None
        first_unknown: PlateInterpretation | None = None
        for raw, confidence in candidates:
            found = self.read_lattice(
                Lattice.from_text(raw),
                _clamp(confidence),
                swaps=self.settings.text_swaps,
                lookalike_weight=self.settings.text_lookalike_weight,
            )
            if found is None:
                continue
            if found.valid and (best is None or found.confidence > best.confidence):
                best = found
            elif not found.valid and first_unknown is None:
                first_unknown = found
        return best or first_unknown

    def read_lattice(
        self,
        lattice: Lattice,
        confidence: float = 1.0,
        *,
        swaps: int | None = None,
        lookalike_weight: float | None = None,
    ) -> PlateInterpretation | None:
        """The interpretation of one reading; `confidence` scales the result's (a text reading's
        own score); `swaps` caps the look-alike swaps (None: the scores alone decide);
        `lookalike_weight` replaces the settings' (readings known only as text)."""
        raw, raw_probabilities = lattice.best_path()
        raw_text = raw.replace("-", "")
        if len(raw_text) < _MIN_READING_LENGTH:
            return None
        settings = self.settings
        result = constrained_beam(
            lattice,
            self._automaton,
            lookalike_weight=settings.lookalike_weight if lookalike_weight is None else lookalike_weight,
            beam_width=settings.beam_width,
            separator_drop=settings.separator_drop,
            margin=self._margin,
        )
        if len(raw_text) < settings.min_repair_length:
            swaps = 0
        candidates = [
            candidate
            for hypothesis in result.accepted
            if swaps is None or sum(p < _SWAPPED for p in hypothesis.probabilities) <= swaps
            for candidate in self._candidates(hypothesis, bare="-" not in raw)
        ]
        sure = bool(raw_probabilities) and min(raw_probabilities) >= settings.sure_probability
        if sure and any(candidate.full == raw_text for candidate in candidates):
            candidates = [candidate for candidate in candidates if candidate.full == raw_text]
        unknown = result.best_log_score + math.log(settings.unknown_weight)
        by_text: dict[str, _Candidate] = {}
        for candidate in sorted(candidates, key=lambda c: c.score, reverse=True):
            by_text.setdefault(candidate.body, candidate)
        ranked = sorted(by_text.values(), key=lambda c: c.score, reverse=True)
        readings = self._readings(ranked, raw_text, unknown)
        as_read = sorted((c for c in candidates if c.full == raw_text), key=lambda c: c.score, reverse=True)
        if ranked and ranked[0].score > unknown:
            best = ranked[0]
        elif as_read:
            best = as_read[0]  # it fits as read: valid, however unlikely its country
        else:
            return PlateInterpretation(
                text=raw_text,
                formatted=raw_text,
                country="",
                valid=False,
                confidence=_clamp(_mean(raw_probabilities) * confidence * _UNKNOWN_FIT),
                character_probabilities=raw_probabilities,
                readings=readings,
            )
        country = best.path.plate_format.country
        others = [c for c in candidates if c.body == best.body and c.path.plate_format.country != country]
        runner_up = max(others, key=lambda c: c.score).path.plate_format.country if others else ""
        return PlateInterpretation(
            text=best.body,
            formatted=self._display(best, candidates),
            country=country,
            valid=True,
            # Times the reading's share among the decoder's readings: a reading the formats changed,
            # or one another reading rivals, is less sure than one that stands alone.
            confidence=_clamp(
                _mean(best.probabilities)
                * confidence
                * self._fit(best)
                * _share(best, ranked, raw_text, unknown)
            ),
            character_probabilities=best.probabilities,
            # The plate first, then the others by their share.
            readings=tuple(sorted(readings, key=lambda r: r.text != best.body)),
            runner_up_country=runner_up,
            format_name=best.path.plate_format.label,
        )

    def _candidates(self, hypothesis: Hypothesis, *, bare: bool) -> list[_Candidate]:
        """The formats a hypothesis fits, scored; `bare`: the recogniser read no separator at all."""
        settings = self.settings
        full = hypothesis.text.replace("-", "")
        paths = [self._automaton.paths[index] for index in self._automaton.accepting(hypothesis.state)]
        direct_countries = {path.plate_format.country for path in paths if path.entry is Entry.DIRECT}
        unswapped = all(p >= _SWAPPED for p in hypothesis.probabilities)
        signed = any(path.entry is Entry.BAND for path in paths)
        found = []
        for path in paths:
            country = path.plate_format.country
            prior = settings.priors.of(country)
            if prior <= 0:
                continue
            if path.entry is not Entry.DIRECT and not (
                _set_apart(hypothesis.text, path.prefix_length)
                or (path.entry is Entry.BAND and bare and unswapped)
            ):
                # A band sign or a stray letter is read apart from the plate's characters; a sign
                # run into them counts only in a reading without any separator (as read from a
                # distance) and ahead of the plate exactly as read, not behind a look-alike swap.
                continue
            if path.entry is Entry.BAND and country in direct_countries and bare:
                continue  # run into the plate, the sign's letters are this country's plate's own
            if path.entry is Entry.STRAY and (direct_countries or signed):
                # A letter is dropped only when the whole reading fits nothing, and not as a stray
                # when it reads as a band sign ahead of that country's plate.
                continue
            # The band sign is evidence of the country against other countries, not against the
            # same country's plate that starts with those letters ("D-AB 123", Düsseldorf).
            band = 1.0 if country in direct_countries else settings.band_bonus
            entry = {Entry.DIRECT: 1.0, Entry.BAND: band, Entry.STRAY: settings.stray_penalty}
            boundaries = _boundaries(hypothesis.text, path.prefix_length)
            agreement = self._separator_fit(boundaries, path.variant.boundaries)
            weight = path.plate_format.weight * agreement * entry[path.entry]
            score = hypothesis.log_score + math.log(prior * weight)
            found.append(
                _Candidate(
                    body=full[path.prefix_length :],
                    full=full,
                    path=path,
                    score=score,
                    probabilities=hypothesis.probabilities[path.prefix_length :],
                    boundaries=boundaries,
                    agreement=agreement,
                )
            )
        return found

    def _fit(self, candidate: _Candidate) -> float:
        """How distinctively the format fits, for the confidence: its weight, its separators as
        read, and its length (a short text fits some format by chance; an unvalidated reading
        counts half, as the earlier grammar's did)."""
        length = min(1.0, len(candidate.body) / _DISTINCTIVE_LENGTH)
        return candidate.path.plate_format.weight * candidate.agreement * length

    def _separator_fit(self, read: frozenset[int], printed: frozenset[int]) -> float:
        fit = self.settings.separator_mismatch ** len(read - printed)
        return fit * (self.settings.separators_missing if printed - read else 1.0)

    def _display(self, best: _Candidate, candidates: Sequence[_Candidate]) -> str:
        """The winner's display form; where variants of its format fit equally (a German plate read
        without separators: "KAB1234" is K-AB or KA-B), only the separators they share."""
        tied = [
            c.path.variant
            for c in candidates
            if c.body == best.body
            and c.path.plate_format is best.path.plate_format
            and math.isclose(c.score, best.score)
        ]
        shown = frozenset.intersection(*(variant.boundaries for variant in tied)) if len(tied) > 1 else None
        return best.path.variant.display(best.body, shown)

    def _readings(self, ranked: Sequence[_Candidate], raw: str, unknown: float) -> tuple[PlateReading, ...]:
        scored: list[tuple[float, PlateReading]] = [
            (c.score, PlateReading(c.body, c.path.variant.display(c.body), c.path.plate_format.country, 0.0))
            for c in ranked
        ]
        if raw not in {c.body for c in ranked}:
            scored.append((unknown, PlateReading(raw, raw, "", 0.0)))
        scored.sort(key=lambda item: item[0], reverse=True)
        top = scored[0][0]
        total = sum(math.exp(score - top) for score, _ in scored)
        return tuple(
            PlateReading(r.text, r.formatted, r.country, round(math.exp(score - top) / total, 4))
            for score, r in scored[:_TOP_READINGS]
        )


def _boundaries(text: str, prefix_length: int) -> frozenset[int]:
    """Where the hypothesis read separators, as positions in the plate after its prefix."""
    positions: set[int] = set()
    count = 0
    for character in text:
        if character == "-":
            positions.add(count - prefix_length)
        else:
            count += 1
    return frozenset(position for position in positions if 0 < position < count - prefix_length)


def _share(best: _Candidate, ranked: Sequence[_Candidate], raw: str, unknown: float) -> float:
    """The best reading's share among all the decoder's readings and the unvalidated one."""
    scores = [c.score for c in ranked]
    if raw not in {c.body for c in ranked}:
        scores.append(unknown)
    top = max(scores)
    return math.exp(best.score - top) / sum(math.exp(score - top) for score in scores)


def _set_apart(text: str, prefix_length: int) -> bool:
    """Whether the hypothesis read a separator right after its first `prefix_length` characters."""
    count = 0
    for index, character in enumerate(text):
        if character != "-":
            count += 1
            if count == prefix_length:
                return text[index + 1 : index + 2] == "-"
    return False


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, float(value)))
