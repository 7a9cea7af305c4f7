"""Time-driven transitions: what the passing of time makes due, in Copenhagen time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.timeline import (
    MilestoneClock,
    ProgrammeClock,
    Step,
    describe,
    due_steps,
    next_moment,
    next_step,
)
from engine.domain.timeline import _steps as every_step

CPH = ZoneInfo("Europe/Copenhagen")


def meeting(
    ident: int, start: datetime, hours: float = 1, state: str = "scheduled"
) -> MilestoneClock:
    return MilestoneClock(
        ident, "meeting", state, start.date(), start.date(), start + timedelta(hours=hours)
    )


def task(ident: int, first: date, last: date, state: str = "planned") -> MilestoneClock:
    return MilestoneClock(ident, "task", state, first, last, None)


AFSAET = meeting(1, datetime(2027, 1, 4, 10, 0, tzinfo=CPH))
KORTLAEGNING = task(2, date(2027, 1, 11), date(2027, 1, 22))


def programme(*milestones: MilestoneClock, state: str = "planned") -> ProgrammeClock:
    return ProgrammeClock(7, state, date(2027, 1, 4), date(2027, 4, 2), milestones)


def events(steps: list[Step]) -> list[tuple[str, int | None]]:
    return [(s.event, s.milestone_id) for s in steps]


def test_nothing_is_due_before_the_start() -> None:
    before = datetime(2027, 1, 3, 22, 59, tzinfo=UTC)  # 23:59 in Copenhagen
    assert due_steps(programme(AFSAET, KORTLAEGNING), before, CPH) == []


def test_the_programme_starts_at_local_midnight_of_its_start_date() -> None:
    at = datetime(2027, 1, 3, 23, 0, tzinfo=UTC)  # 00:00 in Copenhagen
    assert events(due_steps(programme(AFSAET, KORTLAEGNING), at, CPH)) == [("start", None)]


def test_a_meeting_is_done_once_it_has_ended() -> None:
    clock = programme(AFSAET, KORTLAEGNING, state="running")
    assert due_steps(clock, datetime(2027, 1, 4, 10, 59, tzinfo=CPH), CPH) == []
    assert events(due_steps(clock, datetime(2027, 1, 4, 11, 0, tzinfo=CPH), CPH)) == [("done", 1)]


def test_a_task_opens_with_its_window_and_expires_after_it() -> None:
    clock = programme(KORTLAEGNING, state="running")
    opened = due_steps(clock, datetime(2027, 1, 11, 0, 0, tzinfo=CPH), CPH)
    assert events(opened) == [("schedule", 2)]
    scheduled = programme(
        task(2, date(2027, 1, 11), date(2027, 1, 22), "scheduled"), state="running"
    )
    assert due_steps(scheduled, datetime(2027, 1, 22, 23, 59, tzinfo=CPH), CPH) == []
    assert events(due_steps(scheduled, datetime(2027, 1, 23, tzinfo=CPH), CPH)) == [("expire", 2)]


def test_after_a_long_downtime_everything_due_comes_in_order() -> None:
    clock = programme(AFSAET, KORTLAEGNING)
    steps = due_steps(clock, datetime(2027, 5, 1, tzinfo=CPH), CPH)
    assert events(steps) == [
        ("start", None),
        ("done", 1),
        ("schedule", 2),
        ("expire", 2),
        ("complete", None),
    ]


def test_paused_and_finished_programmes_stand_still() -> None:
    later = datetime(2027, 5, 1, tzinfo=CPH)
    for state in ("paused", "completed", "cancelled"):
        assert due_steps(programme(AFSAET, state=state), later, CPH) == []


def test_done_and_skipped_milestones_have_nothing_left() -> None:
    clock = programme(
        meeting(1, datetime(2027, 1, 4, 10, tzinfo=CPH), state="done"), state="running"
    )
    assert events(due_steps(clock, datetime(2027, 2, 1, tzinfo=CPH), CPH)) == []


def test_next_moment_is_the_earliest_future_step_across_programmes() -> None:
    now = datetime(2027, 1, 4, 10, 30, tzinfo=CPH)
    running = programme(AFSAET, KORTLAEGNING, state="running")
    assert next_moment([running], now, CPH) == datetime(2027, 1, 4, 11, 0, tzinfo=CPH)
    assert next_moment([], now, CPH) is None


def test_complete_uses_local_midnight_across_dst() -> None:
    clock = ProgrammeClock(1, "running", date(2027, 1, 4), date(2027, 3, 27), ())
    # 28 March 2027 is the DST switch: local midnight is still +01:00
    assert next_moment([clock], datetime(2027, 3, 27, tzinfo=CPH), CPH) == datetime(
        2027, 3, 27, 23, 0, tzinfo=UTC
    )


def test_the_next_step_is_described_for_the_status() -> None:
    named = MilestoneClock(2, "task", "scheduled", date(2027, 1, 11), date(2027, 1, 22), None, "k")
    clock = programme(named, state="running")
    found = next_step([clock], datetime(2027, 1, 12, tzinfo=CPH), CPH)
    assert found is not None
    assert describe(*found) == "programme 7: k expire"
    assert describe(clock, Step("complete", found[1].at)) == "programme 7: complete"


# ----- next_step without building every step (issue 15 §5: `fbh status` on 100k milestones) --

_FIRST = datetime(2027, 3, 24)  # noqa: DTZ001 - hypothesis bounds are naive
_LAST = datetime(2027, 4, 1)  # noqa: DTZ001
_DAYS = st.dates(_FIRST.date(), _LAST.date())  # across the DST switch
_MILESTONE = st.builds(
    MilestoneClock,
    id=st.integers(1, 6),
    kind=st.sampled_from(["meeting", "task"]),
    state=st.sampled_from(["planned", "scheduled", "done", "overdue", "skipped"]),
    window_start=_DAYS,
    window_end=_DAYS,
    end_at=st.one_of(
        st.none(),
        st.datetimes(_FIRST, _LAST, timezones=st.just(UTC)),
    ),
)
_PROGRAMME = st.builds(
    ProgrammeClock,
    id=st.integers(1, 4),  # repeated ids too: of equal (moment, id), the first listed wins
    state=st.sampled_from(["planned", "running", "paused", "completed"]),
    start=_DAYS,
    end=_DAYS,
    milestones=st.lists(_MILESTONE, max_size=4).map(tuple),
)


def every_step_then_the_first(
    programmes: list[ProgrammeClock], now: datetime
) -> tuple[ProgrammeClock, Step] | None:
    """What next_step computed before: every programme's steps, then the first after now."""
    future = [(s.at, p.id, p, s) for p in programmes for s in every_step(p, CPH) if s.at > now]
    if not future:
        return None
    _, _, found, step = min(future, key=lambda item: (item[0], item[1]))
    return found, step


@settings(max_examples=300)
@given(
    st.lists(_PROGRAMME, max_size=6),
    st.datetimes(_FIRST - timedelta(days=1), _LAST + timedelta(days=2), timezones=st.just(CPH)),
)
def test_next_step_is_the_first_of_every_step_after_now(
    programmes: list[ProgrammeClock], now: datetime
) -> None:
    found = next_step(programmes, now, CPH)
    expected = every_step_then_the_first(programmes, now)
    assert found == expected
    if found is not None and expected is not None:  # the same objects: `describe` is unchanged
        assert found[0] is expected[0] and found[1].at.tzinfo is expected[1].at.tzinfo
