"""The burst tests' counts do not depend on the weekday: the config they run with keeps the
weekly digest out of them on every day of the week (tests/reliability/faults.py)."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta

from faults import CPH, digest_out_of_the_way

from engine.config.daemon import CatchUpSection
from engine.config.settings import WEEKDAYS, DigestSection


def test_the_weekly_digest_is_out_of_the_way_on_every_weekday() -> None:
    monday = datetime(2027, 1, 4, 23, 30, tzinfo=CPH)  # late, so tomorrow is near
    for offset in range(7):
        now = monday + timedelta(days=offset)
        config = tomllib.loads(digest_out_of_the_way(now))
        digest = DigestSection(**config["digest"])
        day = WEEKDAYS.index(digest.weekday)
        assert day not in (now.weekday(), (now.weekday() + 1) % 7)  # not due in a test's time
        assert CatchUpSection(**config["daemon"]["catch_up"]).mode("digest") == "miss"
