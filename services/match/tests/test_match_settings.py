"""Match's one settings class: the core settings and match's own (their ANPR_MATCH_ names kept), read
once at the start, a bad value stopping it; the zone's confusable classes under their one name, the
old match-only name still read, with a warning."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.settings import CoreSettings
from anpr_match.bootstrap import build_service
from anpr_match.settings import MatchSettings

pytestmark = pytest.mark.usefixtures("no_anpr_environment")


def test_one_class_reads_the_core_settings_and_match_s_own_by_their_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANPR_ZONE_ID", "5341")
    monkeypatch.setenv("ANPR_MATCH_LOOKBACK_HOURS", "2.5")
    monkeypatch.setenv("ANPR_MATCH_RECENT_READS_CAPACITY", "1234")
    monkeypatch.setenv("ANPR_MATCH_DUPLICATE_WINDOW_S", "30")
    monkeypatch.setenv("ANPR_MATCH_LOOKBACK_INTERVAL_S", "0.5")
    monkeypatch.setenv("ANPR_MATCH_LATE_READ_S", "600")
    settings = MatchSettings()
    assert isinstance(settings, CoreSettings)
    assert settings.zone_id == "5341"
    assert (
        settings.lookback_hours,
        settings.recent_reads_capacity,
        settings.duplicate_window_s,
        settings.lookback_interval_s,
        settings.late_read_s,
    ) == (2.5, 1234, 30.0, 0.5, 600.0)
    assert MatchSettings(lookback_hours=1).lookback_hours == 1, "given in code by their field names"


def test_a_bad_value_stops_the_service_before_it_starts() -> None:
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("ANPR_")},
        "ANPR_MATCH_LOOKBACK_HOURS": "-1",
    }
    started = subprocess.run(
        [sys.executable, "-m", "anpr_match"], env=environment, capture_output=True, text=True, timeout=120
    )
    assert started.returncode == 2, started.stderr
    assert "match: invalid settings" in started.stderr
    assert "ANPR_MATCH_LOOKBACK_HOURS" in started.stderr


def test_the_zone_s_confusable_classes_are_match_s(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANPR_CONFUSABLE_CLASSES", '["0o", "8b"]')
    settings = MatchSettings(data_dir=tmp_path)
    assert settings.confusable_classes == ("0O", "8B")
    service = build_service(settings, MemoryBus(), make_engine(None, "match", tmp_path))
    assert service.pipeline.index.confusables.classes == ("0O", "8B")


def test_the_old_name_of_the_confusable_classes_still_works_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ANPR_MATCH_CONFUSABLE_CLASSES", '["0O", "5S"]')
    with caplog.at_level(logging.WARNING, logger="anpr_match.settings"):
        settings = MatchSettings()
    assert settings.confusable_classes == ("0O", "5S")
    [warning] = [r for r in caplog.records if "ANPR_MATCH_CONFUSABLE_CLASSES" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert "deprecated" in warning.getMessage() and "ANPR_CONFUSABLE_CLASSES" in warning.getMessage()
    # Both names, one value: the zone's name is read, and the old one still warned about.
    monkeypatch.setenv("ANPR_CONFUSABLE_CLASSES", '["0O", "5S"]')
    assert MatchSettings().confusable_classes == ("0O", "5S")


def test_two_different_values_for_the_confusable_classes_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANPR_MATCH_CONFUSABLE_CLASSES", '["0O"]')
    monkeypatch.setenv("ANPR_CONFUSABLE_CLASSES", '["0OD"]')
    with pytest.raises(ValidationError, match="differ"):
        MatchSettings()


def test_overlapping_confusable_classes_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANPR_MATCH_CONFUSABLE_CLASSES", '["0O", "0D"]')
    with pytest.raises(ValidationError, match="more than one confusable class"):
        MatchSettings()
