"""Pause the cyclic garbage collector around bulk work.

Creating thousands of programmes or building a week's digests keeps hundreds of thousands of
small objects (row dicts, payloads) alive at once, and every full collection walks all of them
again: it cost a quarter to a half of those runs (see docs/benchmarks.md). They hold no
reference cycles, so reference counting frees them anyway.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the collector for the block; re-enable it after if it was enabled before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
