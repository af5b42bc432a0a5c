"""Pure domain rules of the detect service: no I/O, no models."""

from anpr_detect.domain.grammar import PlateInterpretation, interpret

__all__ = ["PlateInterpretation", "interpret"]
