"""Pure domain rules of the detect service: no I/O, no models."""

from anpr_detect.domain.grammar import PlateInterpretation, interpret, normalise_plate

__all__ = ["PlateInterpretation", "interpret", "normalise_plate"]
