"""How likely each country's plates are on the zone's roads: the decoder's prior per country.

Written as ANPR_COUNTRY_PRIORS="BE=1,NL=0.7,FR=0.6,DE=0.5,LU=0.4,*=0.25": a weight per country
code and `*` for every other one. Only the ratios matter. A weight of 0 switches a country's
formats off. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["BELGIAN_ZONE", "CountryPriors"]


@dataclass(frozen=True)
class CountryPriors:
    weights: Mapping[str, float] = field(default_factory=dict)
    default: float = 1.0

    def of(self, country: str) -> float:
        return self.weights.get(country, self.default)

    @staticmethod
    def parse(text: str) -> CountryPriors:
        """Parse "BE=1,NL=0.7,*=0.25"; ValueError with the offending part when malformed."""
        weights: dict[str, float] = {}
        default: float | None = None
        for part in (piece.strip() for piece in text.split(",")):
            if not part:
                continue
            code, separator, value = part.partition("=")
            code = code.strip().upper()
            try:
                weight = float(value)
            except ValueError:
                weight = math.nan
            if not separator or not math.isfinite(weight) or weight < 0:
                raise ValueError(f"country prior {part!r}: write CODE=weight, a weight >= 0")
            if code == "*":
                default = weight
            elif len(code) == 2 and code.isalpha():
                weights[code] = weight
            else:
                raise ValueError(f"country prior {part!r}: the code is ISO 3166 alpha-2 or *")
        if not weights and default is None:
            raise ValueError("country priors are empty")
        if max([*weights.values(), default or 0.0]) <= 0:
            raise ValueError("country priors switch every country off")
        return CountryPriors(MappingProxyType(weights), 1.0 if default is None else default)

    def __str__(self) -> str:
        return ",".join(
            [*(f"{code}={weight:g}" for code, weight in self.weights.items()), f"*={self.default:g}"]
        )


# A Belgian zone: Belgian plates first, then the neighbours, then the rest of Europe. The spread
# (x4) stays below what a look-alike swap costs (domain/reading.py: x20 against the recogniser's
# output, x4 for a text alone, where ties keep the reading), so that a prior never turns a
# correctly read foreign plate into a Belgian one on its own.
BELGIAN_ZONE = CountryPriors(
    MappingProxyType({"BE": 1.0, "NL": 0.7, "FR": 0.6, "DE": 0.5, "LU": 0.4}), default=0.25
)
