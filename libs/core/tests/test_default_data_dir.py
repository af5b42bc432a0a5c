"""Where development data lives when ANPR_DATA_DIR is unset: never the folder a command is run from."""

from __future__ import annotations

from pathlib import Path

import pytest

from anpr_core.settings import CoreSettings, default_data_dir


def _module_in(root: Path) -> Path:
    module = root / "libs" / "core" / "src" / "anpr_core" / "settings.py"
    module.parent.mkdir(parents=True)
    module.write_text("")
    return module


def test_a_checkout_keeps_its_data_in_its_own_var_wherever_the_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "schild"
    module = _module_in(checkout)
    (checkout / "pyproject.toml").write_text("")
    (checkout / "libs" / "core" / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)

    assert default_data_dir(module) == checkout / "var"


def test_an_installed_platform_keeps_it_in_the_users_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _module_in(tmp_path / "site-packages")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_data_dir(module) == tmp_path / "state" / "schild"

    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir(module) == tmp_path / "home" / ".local" / "state" / "schild"


def test_the_settings_default_is_absolute_and_anpr_data_dir_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANPR_DATA_DIR", raising=False)
    assert CoreSettings().data_dir.is_absolute()
    assert CoreSettings().data_dir == default_data_dir()

    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    assert CoreSettings().data_dir == tmp_path
    assert CoreSettings().resolved_dev_key_path() == tmp_path / "dev-issuer" / "key.pem"
