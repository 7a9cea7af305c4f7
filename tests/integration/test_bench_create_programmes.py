"""The creation benchmark (bench/create_programmes.py) runs, and builds the data it claims."""

from __future__ import annotations

from collections import Counter
from datetime import date

from bench import create_programmes


def test_the_batch_gives_each_consultant_a_programme_every_five_weeks() -> None:
    batch = create_programmes.batch(2_004)

    consultants = Counter(item.consultant.email for item in batch)
    assert len(consultants) == 1_000 and max(consultants.values()) == 3
    assert batch[0].start == date(2027, 1, 4) and batch[1_000].start == date(2027, 2, 8)
    assert batch[1_000].consultant == batch[0].consultant
    assert [bool(item.extensions) for item in batch[:8]] == [False, False, False, True] * 2
    assert len({item.organisation for item in batch}) == len(batch)
    assert len({item.tovholder.email for item in batch}) == len(batch)


def test_one_small_run_creates_and_counts_everything() -> None:
    figures = create_programmes.measure_once({"count": 24, "chunk_size": 10})

    assert set(figures) == set(create_programmes.METRICS)
    assert figures["milestones"] == 18 * 6 + 6 * 12  # every 4th has TILPASSET's six more
    # the invites and the summary; no reminder, task notice or check-in falls due within
    # mail.queue_ahead_days (14) of the bench's now, five weeks before the start
    assert figures["outbox_rows"] == 18 * 9 + 6 * 13
    assert figures["create_s"] > 0 and figures["peak_rss_mb"] > 0
