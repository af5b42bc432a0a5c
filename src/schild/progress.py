"""Progress bars for long work started by hand (a replay, an evaluation, a benchmark's load): drawn with
rich on stderr, and only when stderr is an interactive terminal, so that pipes, logs and CI get the
result alone. rich's own variables decide it where the terminal cannot be asked: TTY_INTERACTIVE=0
turns the bars off, TTY_INTERACTIVE=1 with TTY_COMPATIBLE=1 on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Called after each step: how many steps it was, and any fields the bar's text shows.
Advance = Callable[..., None]


def _nothing(steps: int = 1, **fields: Any) -> None:
    """The bar of a run that is not watched: nothing to draw."""


@contextmanager
def progress(description: str, total: int | None, *, status: str = "", **fields: Any) -> Iterator[Advance]:
    """A bar for `total` steps (None: not known, e.g. a live stream); yields `advance(steps=1,
    **fields)`. `status` is a format string over `fields` shown after the bar, e.g.
    "{accepted} accepted, {refused} refused"."""
    console = Console(stderr=True)
    if not console.is_interactive:
        yield _nothing
        return
    columns = [
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    if status:
        columns.append(TextColumn(status.replace("{", "{task.fields[").replace("}", "]}")))
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=total, **fields)

        def advance(steps: int = 1, **changed: Any) -> None:
            bar.update(task, advance=steps, **changed)

        yield advance
