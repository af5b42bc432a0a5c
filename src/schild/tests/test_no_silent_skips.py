"""A skipped test fails the run unless it names an accelerator: shown on a throwaway test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from schild.no_silent_skips import names_an_accelerator

TESTS = """
import pytest

def test_runs():
    assert True

def test_needs_a_tool():
    pytest.skip("helm is not installed")

@pytest.mark.skip(reason="needs a CUDA GPU")
def test_needs_a_gpu():
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
"""


def _run(tmp_path: Path, *selected: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_throwaway.py").write_text(TESTS)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "schild.no_silent_skips",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rA",
            "--rootdir",
            str(tmp_path),
            "-c",
            "/dev/null",
            *selected,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_skip_that_names_no_accelerator_fails_the_run(tmp_path: Path) -> None:
    ran = _run(tmp_path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "FAILED test_throwaway.py::test_needs_a_tool" in ran.stdout
    assert "skipped without naming an accelerator" in ran.stdout
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in ran.stdout


def test_a_skip_for_a_gpu_and_an_expected_failure_pass(tmp_path: Path) -> None:
    ran = _run(tmp_path, "-k", "not needs_a_tool")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed, 1 skipped, 1 deselected, 1 xfailed" in ran.stdout


@pytest.mark.parametrize(
    ("reason", "allowed"),
    [
        ("needs a CUDA GPU", True),
        ("no accelerator here", True),
        ("TensorRT absent", True),
        ("promtool missing", False),
        ("", False),
    ],
)
def test_only_an_accelerator_is_a_reason(reason: str, allowed: bool) -> None:
    assert names_an_accelerator(reason) is allowed
