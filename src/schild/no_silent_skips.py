"""A pytest plugin: a skipped test fails the run unless its reason names an accelerator.

A check that does not run is a check that fails: on a fresh machine `make test` installs what its
checks need, so the only honest reason to skip is hardware the machine lacks (a GPU). The root
conftest.py loads it for every run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

ACCELERATOR_WORDS = ("accelerator", "gpu", "cuda", "tensorrt")


def names_an_accelerator(reason: str) -> bool:
    return any(word in reason.lower() for word in ACCELERATOR_WORDS)


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _reason(report)
    if names_an_accelerator(reason):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped without naming an accelerator ({reason}): a check that does not run fails the run; "
        "install what it needs (make test does), or name the GPU it needs in the reason"
    )
