"""A progress bar for long operations (digest send, outbox send): on stderr, and only when
stderr is a terminal, so scripts, pipes and ``--json`` output never see it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer

Progress = Callable[[int, int], None]  # (done, total)


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """Yields ``update(done, total)``; the bar appears on the first update with work to do."""
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            if total <= 0:
                return
            bar = typer.progressbar(length=total, file=sys.stderr)
            bar.__enter__()
        bar.update(min(done, total) - bar.pos)

    try:
        yield update
        if bar is not None:  # done: the total was an upper bound (rows due later count in it)
            bar.update(bar.length - bar.pos)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
