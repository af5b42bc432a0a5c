"""The habits the repository keeps, checked so that they stay kept."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_pre_commit_runs_the_checks_of_make_lint_and_typecheck() -> None:
    config = REPO / ".pre-commit-config.yaml"
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert pre_commit, "pre-commit is a dev dependency (uv.lock)"
    result = subprocess.run([pre_commit, "validate-config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = {
        hook["id"]: hook for repo in yaml.safe_load(config.read_text())["repos"] for hook in repo["hooks"]
    }
    assert set(hooks) == {"ruff", "ruff-format", "mypy"}
    assert "--strict" in hooks["mypy"]["entry"]
    assert all(hook["language"] == "system" for hook in hooks.values()), "nothing fetched from the network"


def serving_modules() -> list[Path]:
    """The code that runs in production: every Python module outside tests."""
    return [
        path
        for root in ("libs", "services", "src")
        for path in sorted((REPO / root).rglob("*.py"))
        if "tests" not in path.relative_to(REPO).parts and not path.name.startswith("test_")
    ]


def test_no_mock_in_serving_code() -> None:
    """unittest.mock belongs to tests: production code that patches itself hides its real wiring."""
    offenders = [
        str(path.relative_to(REPO))
        for path in serving_modules()
        if "unittest.mock" in (text := path.read_text(encoding="utf-8"))
        or "from unittest import mock" in text
    ]
    assert offenders == []
