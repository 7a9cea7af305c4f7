"""Tests only: run the ``fbh`` CLI under a wall clock that the test can jump while it runs.

``FBH_TEST_CLOCK_FILE`` holds the shift in seconds from the real clock. The process starts at
that shift and ticks at the normal rate; a thread reads the file every 20 ms and, when the
shift changed, jumps the clock by the difference (forwards or backwards, like an NTP step or
an operator's ``date -s``) and writes ``<file>.<pid>`` with the shift it applied.

time-machine moves ``datetime.now`` and ``time.time`` for the whole process; the monotonic
clock (asyncio's timers) goes on undisturbed, exactly as on a real host whose wall clock is
stepped.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import time_machine

control = Path(os.environ["FBH_TEST_CLOCK_FILE"])
ack = control.with_name(f"{control.name}.{os.getpid()}")


def wanted() -> float:
    return float(control.read_text("ascii"))


applied = wanted()
real_now = time.time()  # not travelling yet: the real clock
traveller = time_machine.travel(datetime.fromtimestamp(real_now + applied, UTC), tick=True).start()
time.time()  # time-machine ticks from the first reading: start ticking now, not at first use
ack.write_text(repr(applied), encoding="ascii")


def follow() -> None:
    global applied
    while True:
        time.sleep(0.02)
        try:
            shift = wanted()
        except (OSError, ValueError):
            continue
        if shift != applied:
            traveller.shift(shift - applied)
            applied = shift
            ack.write_text(repr(applied), encoding="ascii")


threading.Thread(target=follow, name="test-clock", daemon=True).start()

from engine.cli.main import main  # noqa: E402

main()
