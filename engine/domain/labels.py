"""The words users read for the engine's names: mail kinds and the timeline's events.

The names themselves (``invite``, ``expire``) stay in JSON and in the database; the human
output of the CLI shows these labels, translated with :mod:`engine.domain.i18n`.
"""

from __future__ import annotations

from engine.domain.i18n import N_, _

MAIL_KIND_LABELS = {
    "invite": N_("invite"),
    "reminder": N_("reminder"),
    "task_due": N_("task reminder"),
    "programme_summary": N_("programme plan"),
    "programme_cancelled": N_("programme cancellation"),
    "request_proposal": N_("proposed start dates"),
    "request_reminder": N_("request reminder"),
    "request_escalation": N_("request escalation"),
    "budget_alert": N_("budget alert"),
    "digest": N_("weekly digest"),
    "digest_consultant": N_("consultant's weekly digest"),
    "digest_lead": N_("lead's weekly digest"),
    "meeting_answer": N_("answer to an invite"),
    "request_ack": N_("request acknowledgement"),
    "bounce_notice": N_("bounce notice"),
    "checkin": N_("check-in"),
    "course_invite": N_("course invite"),
    "course_notice": N_("course notice"),
    "course_reminder": N_("course reminder"),
    "course_roster": N_("course roster"),
    "course_decision": N_("course decision"),
    "delivery_failed": N_("delivery failure notice"),
    "tovholder_weekly": N_("tovholder's weekly reminder"),
    "participant_reminder": N_("participant reminder"),
    "headcount": N_("headcount"),
}

# engine.domain.timeline's events, for a programme (start, complete) or one of its milestones
EVENT_LABELS = {
    "start": N_("programme {id} starts"),
    "complete": N_("programme {id} ends"),
    "schedule": N_("programme {id}: {key} becomes current"),
    "expire": N_("programme {id}: {key} becomes overdue"),
    "done": N_("programme {id}: {key} is done"),
}


def mail_kind_label(kind: str) -> str:
    return _(MAIL_KIND_LABELS[kind]) if kind in MAIL_KIND_LABELS else kind


def event_label(event: str, programme_id: int | None, key: str | None) -> str | None:
    """The step in words, or None for an event without a label."""
    if event not in EVENT_LABELS:
        return None
    return _(EVENT_LABELS[event]).format(id=programme_id, key=key)
