"""A progress bar with rate and ETA for long jobs (Rich), silent when not on a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

__all__ = ["progress_bar"]


class _RateColumn(ProgressColumn):
    """Items per second."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        text = f"{speed:,.1f} {self.unit}/s" if speed else f"-- {self.unit}/s"
        return Text(text, style="progress.data.speed")


@contextlib.contextmanager
def progress_bar(
    description: str, total: int | None, *, unit: str = "img", console: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(n)`` callable that moves a bar showing rate and ETA.

    The bar is drawn on stderr and disappears from non-interactive logs
    (Rich prints nothing animated when the output is not a terminal).
    """
    console = console or Console(stderr=True)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)
