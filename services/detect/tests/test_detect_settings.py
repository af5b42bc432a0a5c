"""Detect's settings: the zone's country priors come from ANPR_COUNTRY_PRIORS and are checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from anpr_detect.domain.priors import BELGIAN_ZONE
from anpr_detect.settings import DetectSettings

pytestmark = pytest.mark.usefixtures("no_anpr_environment")


def test_a_belgian_zone_is_the_default_and_a_zone_sets_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DetectSettings(data_dir=tmp_path).priors() == BELGIAN_ZONE
    monkeypatch.setenv("ANPR_COUNTRY_PRIORS", "NL=1,BE=0.8,*=0.1")
    priors = DetectSettings(data_dir=tmp_path).priors()
    assert (priors.of("NL"), priors.of("BE"), priors.of("PL")) == (1.0, 0.8, 0.1)


def test_malformed_priors_stop_the_service_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANPR_COUNTRY_PRIORS", "BE=high")
    with pytest.raises(ValidationError, match="country prior"):
        DetectSettings(data_dir=tmp_path)
