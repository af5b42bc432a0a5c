"""Pure domain rules of the detect service: no I/O, no models."""

from anpr_detect.domain.grammar import interpret
from anpr_detect.domain.interpretation import PlateInterpretation, PlateReading
from anpr_detect.domain.reading import PlateDecoder, ReadingSettings

__all__ = ["PlateDecoder", "PlateInterpretation", "PlateReading", "ReadingSettings", "interpret"]
