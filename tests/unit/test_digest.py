"""The weekly digests' pure parts: weeks, timeline, selections, load, schedule and rendering."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from fbhtest import visible_text

from engine.config.settings import DigestSection, DigestTime, Settings
from engine.domain.budget import BudgetPart, PartStatus
from engine.domain.digest import (
    BudgetAlertItem,
    ConsultantDigest,
    DigestMilestone,
    LeadDigest,
    MissedItem,
    ProgrammeDigest,
    RequestItem,
    coming_meetings,
    iso_week_label,
    meeting_load,
    next_digest_at,
    overdue_tasks,
    relative_week,
    timeline_cells,
    upcoming,
)
from engine.domain.model import Contact
from notifications.digests import consultant_context, digest_key, lead_context
from notifications.envelope import revive
from notifications.render import (
    environment,
    hours_rows,
    milestone_rows,
    render_mail,
    text_lines,
    timeline_isos,
    timeline_weeks,
)

CPH = ZoneInfo("Europe/Copenhagen")
START = date(2027, 1, 4)  # the worked example: Monday of ISO week 1
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
SOREN = Contact("Søren Tovholder", "soren@oestervang.dk")


def meeting(title: str, week: int, day: date, state: str = "scheduled") -> DigestMilestone:
    start = datetime.combine(day, time(10), tzinfo=CPH)
    return DigestMilestone(
        title=title,
        kind="meeting",
        state=state,
        weeks=(week, week),
        window_start=day,
        window_end=day,
        start=start,
        end=start.replace(hour=11),
    )


def task(title: str, weeks: tuple[int, int], first: date, last: date, state: str = "scheduled"):
    return DigestMilestone(
        title=title,
        kind="task",
        state=state,
        weeks=weeks,
        window_start=first,
        window_end=last,
        start=None,
        end=None,
        owner="tovholder",
    )


MILESTONES = (
    meeting("Indledende dialog", 0, date(2027, 1, 4), state="done"),
    meeting("Opstartsmøde", 1, date(2027, 1, 11), state="done"),
    task("Kortlægning", (1, 3), date(2027, 1, 11), date(2027, 1, 29)),
    task("Invitationer", (4, 4), date(2027, 2, 1), date(2027, 2, 5)),
    meeting("Workshop", 9, date(2027, 3, 8)),
    meeting("Opfølgning", 12, date(2027, 3, 30)),
)


# ----- weeks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "day", "week"),
    [
        (START, date(2027, 1, 4), 0),
        (START, date(2027, 1, 10), 0),  # Sunday of week 0
        (START, date(2027, 1, 11), 1),
        (START, date(2027, 3, 8), 9),
        (START, date(2026, 12, 31), -1),
        (date(2027, 1, 6), date(2027, 1, 4), 0),  # week 0 is the whole ISO week of a Wednesday
        (date(2026, 12, 28), date(2027, 1, 4), 1),  # across the turn of the year
    ],
)
def test_relative_week_counts_iso_weeks_from_the_week_of_the_start(
    start: date, day: date, week: int
) -> None:
    assert relative_week(start, day) == week


def test_the_last_week_is_12_or_18_with_the_extension() -> None:
    assert relative_week(START, date(2027, 4, 2)) == 12
    assert relative_week(START, date(2027, 5, 14)) == 18


def test_iso_week_labels_use_the_iso_year() -> None:
    assert iso_week_label(date(2027, 1, 1)) == "2026-W53"
    assert iso_week_label(date(2027, 3, 8)) == "2027-W10"
    assert digest_key("digest_consultant", "anne@bl.dk", date(2027, 1, 4)) == (
        "digest:anne@bl.dk:2027-W01"
    )
    assert digest_key("digest_lead", "lead@bl.dk", date(2027, 1, 4)).startswith("digest-lead:")


# ----- timeline and selections --------------------------------------------------------------


def test_timeline_marks_meetings_in_their_week_and_tasks_over_their_window() -> None:
    cells = timeline_cells(START, 12, date(2027, 1, 20), MILESTONES, CPH)

    assert [c.week for c in cells] == list(range(13))
    assert [c.iso_week for c in cells][:3] == [1, 2, 3]
    assert [c.phase for c in cells[:4]] == ["past", "past", "current", "future"]
    assert cells[1].meetings == ("Opstartsmøde",) and cells[1].tasks == ("Kortlægning",)
    assert [c.week for c in cells if c.tasks] == [1, 2, 3, 4]
    assert [c.week for c in cells if c.meetings] == [0, 1, 9, 12]


def test_skipped_and_cancelled_milestones_are_not_on_the_timeline() -> None:
    skipped = (meeting("Workshop", 9, date(2027, 3, 8), state="skipped"),)
    assert not any(c.meetings for c in timeline_cells(START, 12, START, skipped, CPH))


def test_upcoming_is_this_week_and_the_next_two() -> None:
    found = upcoming(MILESTONES, date(2027, 1, 27), CPH)  # Wednesday of week 3
    assert [m.title for m in found] == ["Kortlægning", "Invitationer"]
    found = upcoming(MILESTONES, date(2027, 2, 22), CPH)  # Monday of week 7
    assert [m.title for m in found] == ["Workshop"]
    assert upcoming(MILESTONES, date(2027, 2, 15), CPH) == ()  # week 6: the workshop is week 9


def test_overdue_tasks_are_open_tasks_whose_window_has_closed() -> None:
    assert [m.title for m in overdue_tasks(MILESTONES, date(2027, 2, 8))] == [
        "Kortlægning",
        "Invitationer",
    ]
    done = (task("Kortlægning", (1, 3), START, date(2027, 1, 29), state="done"),)
    assert overdue_tasks(done, date(2027, 2, 8)) == ()


def test_coming_meetings_are_the_open_meetings_ahead() -> None:
    now = datetime(2027, 1, 11, 12, 0, tzinfo=CPH)
    assert [m.title for m in coming_meetings(MILESTONES, now)] == ["Workshop", "Opfølgning"]


def test_meeting_load_counts_meetings_per_consultant_and_week() -> None:
    bo = Contact("Bo Berg", "bo@bl.dk")
    starts = [
        (ANNE, datetime(2027, 1, 4, 9, tzinfo=CPH)),
        (ANNE, datetime(2027, 1, 6, 9, tzinfo=CPH)),
        (ANNE, datetime(2027, 1, 18, 9, tzinfo=CPH)),
        (bo, datetime(2027, 1, 12, 9, tzinfo=CPH)),
    ]
    mondays = [date(2027, 1, 4), date(2027, 1, 11), date(2027, 1, 18)]
    load = meeting_load(starts, mondays, CPH)
    assert [(row.consultant.email, row.meetings) for row in load] == [
        ("anne@bl.dk", (2, 0, 1)),
        ("bo@bl.dk", (0, 1, 0)),
    ]


# ----- schedule -----------------------------------------------------------------------------


MONDAY_7 = DigestTime(weekday=0, at=time(7, 0))


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (datetime(2027, 1, 4, 5, 0, tzinfo=UTC), datetime(2027, 1, 4, 7, 0, tzinfo=CPH)),
        (datetime(2027, 1, 4, 6, 0, tzinfo=UTC), datetime(2027, 1, 11, 7, 0, tzinfo=CPH)),
        (datetime(2027, 1, 7, 12, 0, tzinfo=UTC), datetime(2027, 1, 11, 7, 0, tzinfo=CPH)),
        # summer time starts on Sunday 28 March 2027: still 07:00 local, now at +02:00
        (datetime(2027, 3, 24, 12, 0, tzinfo=UTC), datetime(2027, 3, 29, 7, 0, tzinfo=CPH)),
    ],
)
def test_next_digest_time_is_the_next_configured_weekday_and_local_time(
    after: datetime, expected: datetime
) -> None:
    found = next_digest_at(after, MONDAY_7, CPH)
    assert found == expected
    assert found.utcoffset() == expected.utcoffset()


def test_digest_time_is_configurable_with_monday_0700_as_default() -> None:
    assert Settings().digest_time == MONDAY_7
    custom = Settings(digest=DigestSection(weekday="Fredag", time="8:30"))
    assert custom.digest.weekday == "friday"
    assert custom.digest_time == DigestTime(weekday=4, at=time(8, 30))
    with pytest.raises(ValueError, match="unknown weekday"):
        DigestSection(weekday="someday")
    with pytest.raises(ValueError, match="invalid time"):
        DigestSection(time="25:00")


# ----- rendering ----------------------------------------------------------------------------


TODAY = date(2027, 1, 27)  # Wednesday of week 3 (ISO week 4)
NOW = datetime(2027, 1, 27, 7, 0, tzinfo=CPH)
BUDGET = BudgetPart(
    "socialt-beredskab",
    "Socialt beredskab",
    14.8,
    22.2,
    START,
    date(2027, 3, 26),
    "2–3 arbejdsdage (14,8–22,2 timer)",
)


def programme(organisation: str = "Boligselskabet Østervang", used: float = 23.5):
    return ProgrammeDigest(
        id=1,
        organisation=organisation,
        municipality="Helsingør",
        title="Socialt beredskab",
        extensions=(),
        consultant=ANNE,
        tovholder=SOREN,
        state="running",
        start=START,
        end=date(2027, 4, 2),
        week=relative_week(START, TODAY),
        total_weeks=12,
        timeline=timeline_cells(START, 12, TODAY, MILESTONES, CPH),
        upcoming=upcoming(MILESTONES, TODAY, CPH),
        overdue=overdue_tasks(MILESTONES, date(2027, 2, 8)),
        meetings=coming_meetings(MILESTONES, NOW),
        hours=(PartStatus(BUDGET, used, TODAY),),
    )


REQUEST = RequestItem(
    id=4,
    organisation="Boligforeningen Syd <Øst>",
    contact=Contact("Karen", "karen@syd.dk"),
    received=date(2027, 1, 15),
    deadline=date(2027, 1, 29),
    days_left=2,
    assigned=False,
)
MISSED = MissedItem(
    due=datetime(2027, 1, 25, 8, 0, tzinfo=UTC),
    kind="reminder",
    programme_id=1,
    organisation="Boligselskabet Østervang",
    title="Opstartsmøde",
    recipient="soren@oestervang.dk",
)


def consultant_mail_context() -> dict[str, object]:
    digest = ConsultantDigest(ANNE, TODAY, (programme(),), (REQUEST,), (MISSED,))
    return consultant_context(digest, CPH)


def test_the_consultant_digest_renders_the_facts_in_html_and_text() -> None:
    mail = render_mail("digest_consultant", consultant_mail_context())
    text = visible_text(mail.html)

    assert mail.subject.startswith("Ugebrev uge 4: 1 forløb")
    for found in (text, mail.text):
        assert "Uge 3 af 12" in found and "ISO-uge 4" in found
        assert "Invitationer" in found and "Kortlægning" in found
        assert "23,5 af 14,8–22,2 timer" in found
        assert "Boligforeningen Syd <Øst>" in found and "2 dage tilbage" in found
        assert "Påmindelse: Opstartsmøde" in found
    assert "Boligforeningen Syd &lt;Øst&gt;" in mail.html  # escaped
    assert "[#######################!]" in mail.text


def test_the_digest_html_is_mail_safe() -> None:
    """No images, links to style sheets or scripts; one style sheet, in <head> (where Gmail
    reads it), with only element and class selectors, defining every class the body uses;
    this week's cell keeps its colour as an attribute for clients that drop the sheet."""
    html = render_mail("digest_consultant", consultant_mail_context()).html
    assert not re.search(r"<img|<link|<script|src=|url\(|@import|@media", html, re.IGNORECASE)
    head, body = html.split("</head>", 1)
    found = re.search(r"<style[^>]*>(.*?)</style>", head, re.DOTALL)
    assert found is not None and html.count("<style") == 1
    sheet = found.group(1)
    selectors = [s.strip() for rule in re.findall(r"([^{}]+)\{", sheet) for s in rule.split(",")]
    assert selectors and all(
        re.fullmatch(r"[a-z0-9]*(\.[a-z]+)?( [a-z0-9]+)?", s) for s in selectors
    )
    defined = set(re.findall(r"\.([a-z]+)", sheet))
    used = {name for names in re.findall(r'class="([^"]+)"', body) for name in names.split()}
    assert used and used <= defined
    assert re.search(r'<td class="tc" bgcolor="#1f4e5f"[^>]*>3<br>', body)  # week 3 is this week
    assert html.count("<table") >= 6  # layout, stats, timeline, milestones, bar …


def test_the_timeline_filters_write_what_the_timeline_macro_writes() -> None:
    """The consultant's digest writes its timeline cells with two filters; the ``timeline``
    macro (the tovholder's weekly mail) writes the same for the same cells, escaping
    included, whatever the payload holds."""
    cells = [
        {"week": 0, "iso_week": 52, "phase": "past", "marks": "●", "label": 'Møde <"A&B">'},
        {"week": 1, "iso_week": 53, "phase": "current", "marks": "●■", "label": "x, y's"},
        {"week": 2, "iso_week": 1, "phase": "future", "marks": "", "label": ""},
        {"week": "<b>", "iso_week": "<i>", "phase": "?", "marks": "<s>", "label": "Opgave"},
    ]
    macro = environment().get_template("_digest.html").module.timeline  # type: ignore[attr-defined]
    weeks, isos = timeline_weeks(cells), timeline_isos(cells)
    assert str(macro(cells)).startswith(
        '<table class="tl" width="100%" cellpadding="0" cellspacing="0">\n'
        f'<tr><td class="tl">Uge</td>{weeks}</tr>\n<tr class="ti"><td>ISO</td>{isos}</tr>\n'
        "</table>\n"
    )
    assert 'title="Møde &lt;&#34;A&amp;B&#34;&gt;"' in weeks and "<b>" not in weeks + isos


def test_the_milestone_filter_writes_what_the_milestone_macro_writes() -> None:
    """The consultant's digest writes its milestone tables with a filter; the
    ``milestone_table`` macro writes the same for the same items, overdue or not, escaping
    included, whatever the payload holds."""
    hostile = '<b>"A&B"</b>'
    items = [
        {
            "title": 'Møde <"A&B">',
            "kind_label": "Møde",
            "owner_label": "",
            "weeks_text": "uge 3",
            "iso_text": "ISO-uge 10",
            "when": "mandag den 8. marts 2027 kl. 09.00–15.00",
            "due_text": "mandag den 8. marts 2027",
        },
        {
            "title": "x, y's",
            "kind_label": hostile,
            "owner_label": hostile,
            "weeks_text": "UGE 4–5 <i>",
            "iso_text": hostile,
            "when": hostile,
            "due_text": hostile,
        },
    ]
    macro = environment().get_template("_digest.html").module.milestone_table  # type: ignore[attr-defined]
    for overdue in (False, True):
        written = milestone_rows(items, overdue)
        assert written == macro(items, overdue=overdue)
        assert "<b>" not in written and "&lt;b&gt;&#34;A&amp;B&#34;&lt;/b&gt;" in written
    assert milestone_rows([], True) == macro([], overdue=True)


def test_the_hours_filter_writes_what_the_hours_macro_writes() -> None:
    """The consultant's digest writes its hours tables with a filter; the ``hours_table``
    macro (the tovholder's weekly mail) writes the same, escaping included."""
    hostile = '<b>"A&B"</b>'
    parts = [
        {
            "title": "Boligsocial indsats",
            "status": status,
            "status_label": label,
            "percent_of_max": 87,
            "pace_label": "som planlagt",
            "summary": "14,8 af 10–20 timer",
            "segments": [{"kind": "used", "width": 40}, {"kind": "band", "width": 20}]
            + [{"kind": kind, "width": 10} for kind in ("over", "empty")],
        }
        for status, label in (("over", "over maksimum"), ("within", "INDEN"), ("under", "x"))
    ]
    parts.append({**parts[0], "title": hostile, "summary": hostile, "pace_label": hostile})
    parts[-1]["status_label"] = parts[-1]["percent_of_max"] = hostile
    macro = environment().get_template("_digest.html").module.hours_table  # type: ignore[attr-defined]
    written = hours_rows(parts)
    assert written == macro(parts)
    assert "<b>" not in written and written.count("&lt;b&gt;&#34;A&amp;B&#34;&lt;/b&gt;") == 4
    assert 'class="ok"' in written and 'class="g"' in written and 'class="r"' in written


_TEXT_LOOPS = {
    "upcoming": "{% for m in items %}\n  - {{ m.weeks_text | capitalize }} ({{ m.iso_text }}): "
    "{{ m.title }} ({{ m.kind_label | lower }}) – {{ m.when }}\n{% endfor %}\n",
    "overdue": "{% for m in items %}\n  - {{ m.title }} – skulle være løst {{ m.due_text }}\n"
    "{% endfor %}\n",
    "meetings": "{% for m in items %}\n  - {{ m.title }} – {{ m.when }}\n{% endfor %}\n",
    "hours": "{% for h in items %}\n  {{ h.title }}: {{ h.summary }} – {{ h.status_label }}, "
    "tempo {{ h.pace_label }}\n  {{ h.text_bar }} {{ h.percent_of_max }} % af maksimum\n"
    "{% endfor %}\n",
}


def test_the_text_filter_writes_what_the_text_loops_wrote() -> None:
    """The consultant's plain-text digest writes its milestone and hours lines with a filter:
    the same text as the loops it replaced (in the same Jinja environment), for any values."""
    odd = '<b>"A&B"</b> ÆØÅ'
    item = {
        "title": odd,
        "kind_label": "MØDE",
        "weeks_text": "uge 3–4",
        "iso_text": "ISO-uge 10",
        "when": odd,
        "due_text": "mandag den 8. marts 2027",
        "summary": "14,8 af 10–20 timer",
        "status_label": odd,
        "pace_label": "som planlagt",
        "text_bar": "[####------]",
        "percent_of_max": 74,
    }
    items = [item, {**item, "title": "Næste", "weeks_text": "UGE 5", "percent_of_max": 0}]
    env = environment()
    for form, loop in _TEXT_LOOPS.items():
        written = text_lines(items, form)
        assert written == env.from_string(loop).render(items=items)
        assert text_lines([], form) == ""
    assert "(møde)" in text_lines(items, "upcoming") and odd in text_lines(items, "hours")


def test_a_queued_digest_renders_the_same_from_its_stored_payload() -> None:
    context = consultant_mail_context()
    stored = revive(json.loads(json.dumps(context)))
    assert render_mail("digest_consultant", stored) == render_mail("digest_consultant", context)


def test_the_lead_digest_shows_load_breaches_and_budget_alerts() -> None:
    breached = RequestItem(5, "Lejerbo Nord", Contact("Lars", "l@n.dk"), TODAY, TODAY, -2, False)
    over = programme()
    digest = LeadDigest(
        recipient=Contact("Programleder", "lead@bl.dk"),
        today=TODAY,
        programmes=(over, programme("AAB Vest", used=3)),
        load_weeks=(date(2027, 1, 25), date(2027, 2, 1)),
        load=meeting_load(
            [(ANNE, datetime(2027, 1, 26, 9, tzinfo=CPH))] * 3,
            [
                date(2027, 1, 25),
                date(2027, 2, 1),
            ],
            CPH,
        ),
        breaches=(breached,),
        soon=(REQUEST,),
        budget_alerts=(BudgetAlertItem(over, over.hours[0], "over"),),
        missed=(MISSED,),
    )
    context = lead_context(digest, CPH)
    mail = render_mail("digest_lead", context)
    text = visible_text(mail.html)

    assert mail.subject.startswith("Programoverblik uge 4: 2 forløb, 1 overskredet svarfrist")
    assert "Lejerbo Nord" in text and "overskredet med 2 dage" in text
    assert re.search(r"Anne Konsulent uge 5 3 uge 6 0|Anne Konsulent 3 0", text)
    assert "over maksimum" in text and "AAB Vest" in text
    assert render_mail("digest_lead", revive(json.loads(json.dumps(context)))) == mail
