"""Danish mail templates and formatting filters of notifications.render."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifications.render import (
    KINDS,
    RenderError,
    da_date,
    da_datetime,
    da_hours,
    da_period,
    da_time,
    da_timespan,
    da_weekday,
    iso_week,
    render_mail,
)

CPH = ZoneInfo("Europe/Copenhagen")

PROGRAMME = {
    "id": 7,
    "workflow_title": "Socialt beredskab",
    "organisation": "Boligselskabet Øst",
    "municipality": "Aabenraa",
}
TOVHOLDER = {"name": "Søren Ærø", "email": "soren@boligost.dk", "role": "tovholder"}
CONSULTANT = {"name": "Anna Holm", "email": "anna.holm@bl.dk"}
WORKSHOP = {
    "title": "Workshop",
    "description": "Vi kortlægger aktørlandskabet.\nFrokost er inkluderet.",
    "location": "Fælleshuset, Ærøvej 7",
    "start": datetime(2027, 3, 8, 9, 0, tzinfo=CPH),
    "end": datetime(2027, 3, 8, 15, 0, tzinfo=CPH),
    "week": 9,
}


def invite_context(**changes: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "method": "REQUEST",
        "is_update": False,
        "programme": PROGRAMME,
        "meeting": WORKSHOP,
        "recipient": TOVHOLDER,
        "consultant": CONSULTANT,
        "tovholder": {"name": TOVHOLDER["name"], "email": TOVHOLDER["email"]},
    }
    context.update(changes)
    return context


CONTEXTS: dict[str, dict[str, Any]] = {
    "invite": invite_context(),
    "reminder": {
        "programme": PROGRAMME,
        "milestone": {**WORKSHOP, "kind": "meeting"},
        "recipient": TOVHOLDER,
        "before_text": "om 2 arbejdsdage",
    },
    "task_due": {
        "programme": PROGRAMME,
        "milestone": {
            "title": "Kortlægning af aktørlandskabet",
            "description": "Lav en liste over aktørerne i området.",
            "window_start": date(2027, 1, 11),
            "window_end": date(2027, 1, 29),
            "week": 1,
        },
        "recipient": TOVHOLDER,
    },
    "programme_summary": {
        "programme": PROGRAMME,
        "milestones": [
            {
                "title": "Indledende dialog",
                "kind": "meeting",
                "weeks": (0, 0),
                "window_start": date(2027, 1, 4),
                "window_end": date(2027, 1, 8),
                "start": datetime(2027, 1, 4, 10, 0, tzinfo=CPH),
                "end": datetime(2027, 1, 4, 11, 0, tzinfo=CPH),
            },
            {
                "title": "Kortlægning af aktørlandskabet",
                "kind": "task",
                "weeks": (1, 3),
                "window_start": date(2027, 1, 11),
                "window_end": date(2027, 1, 29),
                "start": None,
                "end": None,
            },
            {
                "title": "Workshop",
                "kind": "meeting",
                "weeks": [9, 11],
                "window_start": date(2027, 3, 8),
                "window_end": date(2027, 3, 24),
                "start": datetime(2027, 3, 8, 9, 0, tzinfo=CPH),
                "end": datetime(2027, 3, 8, 15, 0, tzinfo=CPH),
            },
        ],
        "budget": {
            "min_hours": 14.8,
            "max_hours": 22.2,
            "text": "2–3 arbejdsdage (14,8–22,2 timer)",
        },
        "consultant": CONSULTANT,
        "recipient": TOVHOLDER,
    },
    "programme_cancelled": {
        "programme": PROGRAMME,
        "recipient": TOVHOLDER,
        "reason": "Boligorganisationen har udskudt forløbet.",
    },
    "budget_alert": {
        "alert": "threshold",
        "programme": PROGRAMME,
        "part": {
            "key": "socialt-beredskab",
            "title": "Socialt beredskab",
            "is_extension": False,
            "min_hours": 14.8,
            "max_hours": 22.2,
            "used_hours": 18.0,
            "percent_of_max": 81,
            "budget_text": "2–3 arbejdsdage (14,8–22,2 timer)",
            "status": "within",
        },
        "programme_end_text": "",
        "recipient": TOVHOLDER,
        "consultant": CONSULTANT,
        "tovholder": {"name": TOVHOLDER["name"], "email": TOVHOLDER["email"]},
    },
    "meeting_answer": {
        "programme": PROGRAMME,
        "meeting": {
            "title": "Workshop",
            "start": datetime(2027, 3, 8, 9, 0, tzinfo=CPH),
            "end": datetime(2027, 3, 8, 15, 0, tzinfo=CPH),
        },
        "recipient": TOVHOLDER,
        "attendee": {"name": "Mette Ærø", "email": "mette@example.dk", "role": "tovholder"},
        "answer": {"partstat": "declined", "text": "afvist", "counter": False, "comment": "Syg"},
        "proposal": None,
    },
    "bounce_notice": {
        "programme": PROGRAMME,
        "recipient": TOVHOLDER,
        "bounce": {"address": "soeren@exmaple.dk", "status": "5.1.1 (failed)", "kind": "invite"},
    },
    "delivery_failed": {
        "programme": PROGRAMME,
        "recipient": TOVHOLDER,
        "failed": {
            "id": 12,
            "name": "Mette <Ærø>",
            "address": "mette@example.dk",
            "kind": "invite",
            "kind_text": "en mødeinvitation",
            "subject": "Invitation: Workshop",
            "attempts": 8,
            "error": "550 5.1.1 <mette@example.dk>: No such user",
        },
    },
    "participant_reminder": {
        "programme": PROGRAMME,
        "meeting": WORKSHOP,
        "recipient": TOVHOLDER,
        "consultant": CONSULTANT,
        "tovholder": {"name": TOVHOLDER["name"], "email": TOVHOLDER["email"]},
    },
    "headcount": {
        "programme": PROGRAMME,
        "meeting": WORKSHOP,
        "recipient": TOVHOLDER,
        "consultant": CONSULTANT,
        "tovholder": {"name": TOVHOLDER["name"], "email": TOVHOLDER["email"]},
        "counts": {"accepted": 2, "tentative": 1, "unanswered": 1, "declined": 0, "lunch": 5},
        "groups": [
            {
                "partstat": "accepted",
                "title": "Kommer",
                "people": [
                    {
                        "name": "Åse Ærø",
                        "email": "ase@kommune.dk",
                        "organisation": "Helsingør Kommune",
                        "kind": "Kommune",
                        "role": "leder",
                    }
                ],
            },
            {"partstat": "declined", "title": "Kommer ikke", "people": []},
        ],
    },
}


def test_headcount_lists_the_counts_and_the_people() -> None:
    mail = render_mail("headcount", CONTEXTS["headcount"])

    assert "5 til frokost" in mail.subject
    assert "Til frokost:       5 (kommer og kommer måske, plus konsulent og tovholder)" in mail.text
    assert "- Åse Ærø <ase@kommune.dk>, Helsingør Kommune, Kommune, leder" in mail.text
    assert "Kommer ikke (0):\n- ingen" in mail.text
    assert "&lt;ase@kommune.dk&gt;" in mail.html


# The weekly digests are about many programmes, not one: tests/unit/test_digest.py renders them;
# the request mails are about no programme: tests/unit/test_request_sla.py renders them; the
# tovholder's weekly reminder shows a digest's programme: tests/unit/test_page_render.py.
PROGRAMME_KINDS = [
    kind for kind in KINDS if not kind.startswith(("digest_", "request_", "tovholder_weekly"))
]


@pytest.mark.parametrize("kind", PROGRAMME_KINDS)
def test_every_kind_renders(kind: str) -> None:
    mail = render_mail(kind, CONTEXTS[kind])

    assert mail.subject and "\n" not in mail.subject
    assert mail.text.startswith("Kære Søren Ærø\n")
    assert mail.text.endswith("\n") and "\n\n\n" not in mail.text
    assert "Boligselskabet Øst" in mail.subject
    assert mail.html.lstrip().startswith("<!DOCTYPE html>")
    assert "Kære Søren Ærø" in mail.html
    assert not re.search(r"<img|<link|<script|src=|url\(", mail.html, re.IGNORECASE)


@pytest.mark.parametrize(
    ("changes", "subject"),
    [
        ({}, "Invitation: Workshop – Socialt beredskab (Boligselskabet Øst)"),
        ({"is_update": True}, "Ændret: Workshop – Socialt beredskab (Boligselskabet Øst)"),
        ({"method": "CANCEL"}, "Aflyst: Workshop – Socialt beredskab (Boligselskabet Øst)"),
    ],
)
def test_invite_subjects(changes: dict[str, Any], subject: str) -> None:
    assert render_mail("invite", invite_context(**changes)).subject == subject


def test_invite_text_has_danish_time_and_weeks() -> None:
    text = render_mail("invite", invite_context()).text

    assert "mandag den 8. marts 2027 kl. 09.00–15.00" in text
    assert "uge 9 i forløbet (kalenderuge 10)" in text
    assert "Fælleshuset, Ærøvej 7" in text
    assert "Du deltager som lokal tovholder." in text
    assert "Anna Holm <anna.holm@bl.dk>" in text


def test_cancellation_says_so() -> None:
    mail = render_mail("invite", invite_context(method="CANCEL"))

    assert "er aflyst" in mail.text
    assert "Vi kortlægger" not in mail.text


def test_html_is_escaped_and_text_is_not() -> None:
    evil = {**PROGRAMME, "organisation": "Øst <script>alert('x')</script> & Co"}

    mail = render_mail("invite", invite_context(programme=evil))

    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co" in mail.html
    assert "Øst <script>alert('x')</script> & Co" in mail.text
    assert "Øst <script>alert('x')</script> & Co" in mail.subject


def test_html_turns_description_lines_into_breaks() -> None:
    html = render_mail("invite", invite_context()).html

    assert "Vi kortlægger aktørlandskabet.<br>\nFrokost er inkluderet." in html


def test_reminder_for_a_task_uses_the_window() -> None:
    context = {
        **CONTEXTS["reminder"],
        "milestone": {
            "title": "Kortlægning af aktørlandskabet",
            "kind": "task",
            "window_start": date(2027, 1, 11),
            "window_end": date(2027, 1, 29),
            "week": 1,
        },
    }

    mail = render_mail("reminder", context)

    assert mail.subject == (
        "Påmindelse: Kortlægning af aktørlandskabet om 2 arbejdsdage – Socialt beredskab "
        "(Boligselskabet Øst)"
    )
    assert "11.–29. januar 2027" in mail.text
    assert "fredag den 29. januar 2027" in mail.text


def test_task_due_names_the_deadline() -> None:
    mail = render_mail("task_due", CONTEXTS["task_due"])

    assert mail.subject.startswith("Opgave: Kortlægning af aktørlandskabet")
    assert "senest fredag den 29. januar 2027" in mail.text


def test_programme_summary_lists_the_plan_and_budget() -> None:
    mail = render_mail("programme_summary", CONTEXTS["programme_summary"])

    assert "Uge 0: Indledende dialog (møde)" in mail.text
    assert "Uge 1–3: Kortlægning af aktørlandskabet (opgave)" in mail.text
    assert "11.–29. januar 2027" in mail.text
    assert "Uge 9–11: Workshop (møde)" in mail.text
    assert "mandag den 8. marts 2027 kl. 09.00–15.00" in mail.text
    assert "2–3 arbejdsdage (14,8–22,2 timer)" in mail.text
    assert "uge 9–11" in mail.html


def test_programme_cancelled_with_and_without_reason() -> None:
    with_reason = render_mail("programme_cancelled", CONTEXTS["programme_cancelled"])
    without = render_mail("programme_cancelled", {**CONTEXTS["programme_cancelled"], "reason": ""})

    assert "Begrundelse: Boligorganisationen har udskudt forløbet." in with_reason.text
    assert "Begrundelse" not in without.text
    assert with_reason.subject == "Forløb aflyst: Socialt beredskab (Boligselskabet Øst)"


def test_missing_context_is_an_error() -> None:
    context = invite_context()
    del context["consultant"]

    with pytest.raises(RenderError, match="consultant"):
        render_mail("invite", context)


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(RenderError, match="unknown"):
        render_mail("../invite", {})


def test_naive_datetimes_are_refused() -> None:
    naive = {**WORKSHOP, "start": datetime(2027, 3, 8, 9, 0)}  # noqa: DTZ001

    with pytest.raises(RenderError, match="naive"):
        render_mail("invite", invite_context(meeting=naive))


def test_danish_dates() -> None:
    monday = date(2027, 3, 8)

    assert da_date(monday) == "8. marts 2027"
    assert da_weekday(monday) == "mandag"
    assert [da_weekday(date(2027, 3, d)) for d in range(8, 15)] == [
        "mandag",
        "tirsdag",
        "onsdag",
        "torsdag",
        "fredag",
        "lørdag",
        "søndag",
    ]
    assert da_date(date(2027, 12, 24)) == "24. december 2027"
    assert iso_week(monday) == 10


def test_aware_datetimes_are_shown_in_copenhagen_time() -> None:
    winter = datetime(2027, 3, 8, 8, 0, tzinfo=UTC)
    summer = datetime(2027, 6, 14, 7, 0, tzinfo=UTC)
    late = datetime(2027, 3, 7, 23, 30, tzinfo=UTC)  # already Monday in Copenhagen

    assert da_time(winter) == "09.00"
    assert da_time(summer) == "09.00"
    assert da_datetime(winter) == "mandag den 8. marts 2027 kl. 09.00"
    assert da_date(late) == "8. marts 2027"
    assert da_weekday(late) == "mandag"


def test_timespans_and_periods() -> None:
    start = datetime(2027, 3, 8, 9, 0, tzinfo=CPH)

    assert da_timespan(start, start.replace(hour=15)) == "mandag den 8. marts 2027 kl. 09.00–15.00"
    assert da_timespan(start, start.replace(day=9, hour=10)) == (
        "mandag den 8. marts 2027 kl. 09.00 – tirsdag den 9. marts 2027 kl. 10.00"
    )
    assert da_period(date(2027, 3, 8), date(2027, 3, 24)) == "8.–24. marts 2027"
    assert da_period(date(2027, 3, 30), date(2027, 4, 2)) == "30. marts – 2. april 2027"
    assert da_period(date(2027, 12, 27), date(2028, 1, 7)) == "27. december 2027 – 7. januar 2028"
    assert da_period(date(2027, 3, 8), date(2027, 3, 8)) == "8. marts 2027"


@pytest.mark.parametrize(
    ("hours", "text"),
    [(14.8, "14,8"), (22.2, "22,2"), (15.0, "15"), (7.25, "7,25"), (0, "0"), (5, "5")],
)
def test_da_hours(hours: float, text: str) -> None:
    assert da_hours(hours) == text


def test_programme_summary_without_a_budget_leaves_the_budget_out() -> None:
    mail = render_mail("programme_summary", {**CONTEXTS["programme_summary"], "budget": None})
    assert "Tidsforbrug" not in mail.text and "Tidsforbrug" not in mail.html
    assert "Tidsforbrug" in render_mail("programme_summary", CONTEXTS["programme_summary"]).text


def test_meeting_answer_names_the_decline_and_the_comment() -> None:
    mail = render_mail("meeting_answer", CONTEXTS["meeting_answer"])
    assert mail.subject.startswith("Afbud: Workshop")
    assert "Mette Ærø (mette@example.dk) har meldt afbud" in mail.text
    assert "Kommentar:    Syg" in mail.text


def test_meeting_answer_counter_shows_the_proposed_time() -> None:
    context = CONTEXTS["meeting_answer"] | {
        "answer": {"partstat": "tentative", "text": "x", "counter": True, "comment": ""},
        "proposal": {"start": datetime(2027, 3, 9, 10, 0, tzinfo=CPH)},
    }
    mail = render_mail("meeting_answer", context)
    assert mail.subject.startswith("Nyt tidspunkt foreslået: Workshop")
    assert "Foreslået:" in mail.text and "9. marts 2027" in mail.text


def test_request_ack_gives_the_deadline_in_danish() -> None:
    context = {
        "request": {
            "workflow_title": "Socialt beredskab",
            "organisation": "oestervang.dk",
            "received": date(2027, 1, 4),
            "deadline": date(2027, 1, 18),
        },
        "recipient": {"name": "Søren", "email": "soren@oestervang.dk"},
    }
    mail = render_mail("request_ack", context)
    assert "senest 18. januar 2027" in mail.text
    assert "Kære Søren" in mail.html


def test_the_delivery_failed_notice_names_who_was_not_reached_and_escapes_the_reply() -> None:
    mail = render_mail("delivery_failed", CONTEXTS["delivery_failed"])

    assert mail.subject == (
        "E-mail kunne ikke sendes: mette@example.dk – Socialt beredskab (Boligselskabet Øst)"
    )
    assert "en mødeinvitation) til Mette <Ærø> <mette@example.dk>" in mail.text
    assert "550 5.1.1 <mette@example.dk>: No such user" in mail.text
    assert "besked nr. 12" in mail.text
    assert "&lt;mette@example.dk&gt;: No such user" in mail.html
    assert "Mette &lt;Ærø&gt;" in mail.html and "<Ærø>" not in mail.html
