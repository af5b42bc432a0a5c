"""The false-alarm rate of hits, per list and per camera, from operators' verdicts: counts only, no
plate and no hit. No I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VerdictCounts:
    """The hits of one list (or at one camera) in a period, by the operators' verdicts."""

    name: str
    hits: int
    confirmed: int
    false_alarms: int
    not_seen: int

    @property
    def acknowledged(self) -> int:
        return self.confirmed + self.false_alarms + self.not_seen

    @property
    def false_alarm_rate(self) -> float | None:
        """False alarms over acknowledged hits, as the anpr_hit_false_alarm_ratio gauge has it; None
        while none is acknowledged."""
        return self.false_alarms / self.acknowledged if self.acknowledged else None
