"""Tests only: run the ``fbh`` CLI with its clock shifted by ``FBH_TEST_SHIFT_SECONDS``.

Time goes on ticking at the normal rate, so every process of a test that starts with the same
shift sees the same (shifted) wall clock. fbh reads time only through ``engine.domain.clock``;
time-machine moves ``datetime.now`` and ``time.time`` for the whole process.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import time_machine

shift = timedelta(seconds=float(os.environ["FBH_TEST_SHIFT_SECONDS"]))
time_machine.travel(datetime.now(UTC) + shift, tick=True).start()

from engine.cli.main import main  # noqa: E402

main()
