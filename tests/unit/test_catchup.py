"""The catch-up policy: which late messages are still sent, which are recorded missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from engine.config.daemon import CatchUpSection, DaemonSection
from engine.domain.catchup import LateMessage, Verdict, decide, expiry

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2027, 3, 8, 12, 0, tzinfo=UTC)
DEFAULT = CatchUpSection().policy()


def late(kind: str, minutes: float, expires_in: float | None = None) -> LateMessage:
    expires = NOW + timedelta(minutes=expires_in) if expires_in is not None else None
    return LateMessage(kind, NOW - timedelta(minutes=minutes), expires)


def test_a_reminder_within_its_grace_is_still_sent() -> None:
    assert decide(late("reminder", 59, expires_in=120), NOW, DEFAULT).verdict is Verdict.SEND


def test_a_reminder_past_its_grace_is_missed_by_default() -> None:
    decision = decide(late("reminder", 61, expires_in=120), NOW, DEFAULT)
    assert decision.verdict is Verdict.MISS
    assert "61 min late (grace 60 min)" in decision.reason


def test_an_invite_for_a_future_meeting_is_sent_however_late() -> None:
    message = late("invite", 3 * 24 * 60, expires_in=60)
    assert decide(message, NOW, DEFAULT).verdict is Verdict.SEND


def test_nothing_is_sent_after_its_moment_whatever_the_policy() -> None:
    send_all = CatchUpSection(reminder="send").policy()  # type: ignore[call-arg]
    assert decide(late("invite", 5, expires_in=0), NOW, DEFAULT).verdict is Verdict.MISS
    assert decide(late("reminder", 1, expires_in=-1), NOW, send_all).verdict is Verdict.MISS


def test_policy_per_kind_with_its_own_grace() -> None:
    section = CatchUpSection(
        default="miss",
        grace_minutes=10,
        reminder="send",
        task_due_grace_minutes=600,  # type: ignore[call-arg]
    )
    policy = section.policy()
    assert section.mode("reminder") == "send"
    assert policy.mode("reminder") == "send" and policy.grace("task_due").seconds == 600 * 60
    assert decide(late("reminder", 500, expires_in=5), NOW, policy).verdict is Verdict.SEND
    assert decide(late("task_due", 500), NOW, policy).verdict is Verdict.SEND
    assert decide(late("task_due", 601), NOW, policy).verdict is Verdict.MISS
    assert decide(late("programme_summary", 11), NOW, policy).verdict is Verdict.MISS


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"remindr": "miss"}, "unknown kind 'remindr'"),
        ({"reminder": "later"}, 'must be "send" or "miss"'),
        ({"reminder_grace_minutes": -1}, "number of minutes"),
    ],
)
def test_typos_in_the_policy_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DaemonSection(catch_up=values)  # type: ignore[arg-type]


def test_expiry_of_each_kind() -> None:
    meeting = {"kind": "meeting", "start": "2027-03-08T09:00:00+01:00"}
    task = {"kind": "task", "window_end": "2027-03-24"}
    invite = {"context": {"meeting": {"end": "2027-03-08T15:00:00+01:00"}}}
    assert expiry("invite", invite, CPH) == datetime(2027, 3, 8, 15, 0, tzinfo=CPH)
    assert expiry("reminder", {"context": {"milestone": meeting}}, CPH) == datetime(
        2027, 3, 8, 9, 0, tzinfo=CPH
    )
    assert expiry("task_due", {"context": {"milestone": task}}, CPH) == datetime(
        2027, 3, 25, 0, 0, tzinfo=CPH
    )
    request = {"context": {"request": {"deadline": "2027-03-15"}}}
    assert expiry("request_reminder", request, CPH) == datetime(2027, 3, 16, tzinfo=CPH)
    assert expiry("request_escalation", request, CPH) is None
    assert expiry("programme_summary", {"context": {}}, CPH) is None
    participants = {"context": {"meeting": {"start": "2027-03-08T09:00:00+01:00"}}}
    for kind in ("participant_reminder", "headcount"):  # pointless once the meeting began
        assert expiry(kind, participants, CPH) == datetime(2027, 3, 8, 9, 0, tzinfo=CPH)
