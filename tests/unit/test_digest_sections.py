"""The consultant digest's programme sections, written by filters
(:mod:`notifications.digest_filters`), are what the templates' loops wrote."""

from __future__ import annotations

import json
from typing import Any

from notifications.digest_filters import programme_section, programme_text
from notifications.envelope import revive
from notifications.render import environment

# The loop of digest_consultant.html that the filter replaced, as it was.
_LOOP = (
    '{% autoescape true %}{% from "_digest.html" import subheading, note %}'
    "{% for p in programmes %}\n"
    "<h2>{{ p.organisation }} · {{ p.municipality }}</h2>\n"
    "\n"
    '<table class="w" width="100%">\n'
    '<tr><td class="hd"><strong>{{ p.title }}</strong>{% for e in p.extensions %} +'
    ' {{ e }}{% endfor %}<br><span class="g">{{ p.period_text }} · {{ p.state_label'
    ' }} · tovholder {{ p.tovholder.name }} (<a href="mailto:{{ p.tovholder.email'
    ' }}">{{ p.tovholder.email }}</a>)</span></td><td class="wk"'
    ' width="150"><strong>{{ p.week_text }}</strong><br><span class="s">ISO-uge {{'
    " p.iso_week }}</span></td></tr>\n"
    "</table>\n"
    '<table class="tl" width="100%" cellpadding="0" cellspacing="0">\n'
    '<tr><td class="tl">Uge</td>{{ p.timeline|timeline_weeks }}</tr>\n'
    '<tr class="ti"><td>ISO</td>{{ p.timeline|timeline_isos }}</tr>\n'
    "</table>\n"
    '<p class="lg">● møde &nbsp; ■ opgave &nbsp; <b style="color:#1f4e5f">▌</b>'
    " denne uge</p>\n"
    "\n"
    '<p class="sh">Denne og de næste to uger</p>\n'
    "\n"
    '{% if p.upcoming %}{{ p.upcoming|milestone_rows }}{% else %}<p class="n">Ingen'
    " milepæle i de næste tre uger.</p>\n"
    "{% endif %}\n"
    "{% if p.overdue %}\n"
    '<p class="sh">Overskredne opgaver</p>\n'
    "\n"
    "{{ p.overdue|milestone_rows(True) }}\n"
    "{% endif %}\n"
    "{% if p.meetings %}\n"
    '<p class="sh">Senere møder</p>\n'
    "\n"
    "{{ p.meetings|milestone_rows }}\n"
    "{% endif %}\n"
    "{% if p.answers %}\n"
    '{{ subheading("Svar på invitationer") }}\n'
    '{% for a in p.answers %}{{ note(a.meeting ~ ": " ~ a.name ~ " – " ~ a.answer)'
    " }}{% endfor %}\n"
    "{% endif %}\n"
    "{% if p.bouncing %}\n"
    '{{ subheading("Adresser, der ikke kan modtage e-mail") }}\n'
    '{{ note(p.bouncing | join(", ")) }}\n'
    "{% endif %}\n"
    '<p class="sh">Tovholderens tidsforbrug</p>\n'
    "\n"
    '{% if p.hours %}{{ p.hours|hours_rows }}{% else %}<p class="n">Forløbet har'
    " intet tidsbudget.</p>\n"
    "{% endif %}\n"
    "{% endfor %}{% endautoescape %}"
)

# The loop of digest_consultant.txt that the filter replaced, as it was.
_TEXT_LOOP = (
    "{% for p in programmes %}\n"
    "\n"
    "\n"
    "== {{ p.organisation }} · {{ p.municipality }} ==\n"
    "{{ p.title }}{% for e in p.extensions %} + {{ e }}{% endfor %}\n"
    "\n"
    "{{ p.week_text }} · ISO-uge {{ p.iso_week }} · {{ p.period_text }} · {{"
    " p.state_label }}\n"
    "Tovholder: {{ p.tovholder.name }} <{{ p.tovholder.email }}>\n"
    "\n"
    "Denne og de næste to uger:\n"
    "{% if p.upcoming %}\n"
    '{{ p.upcoming | text_lines("upcoming") -}}\n'
    "{% else %}\n"
    "  Ingen milepæle i de næste tre uger.\n"
    "{% endif %}\n"
    "{% if p.overdue %}\n"
    "\n"
    "Overskredne opgaver:\n"
    '{{ p.overdue | text_lines("overdue") -}}\n'
    "{% endif %}\n"
    "{% if p.meetings %}\n"
    "\n"
    "Senere møder:\n"
    '{{ p.meetings | text_lines("meetings") -}}\n'
    "{% endif %}\n"
    "{% if p.answers %}\n"
    "\n"
    "Svar på invitationer:\n"
    "{% for a in p.answers %}\n"
    "  - {{ a.meeting }}: {{ a.name }} – {{ a.answer }}\n"
    "{% endfor %}\n"
    "{% endif %}\n"
    "{% if p.bouncing %}\n"
    "\n"
    'Adresser, der ikke kan modtage e-mail: {{ p.bouncing | join(", ") }}\n'
    "{% endif %}\n"
    "\n"
    "Tovholderens tidsforbrug:\n"
    "{% if p.hours %}\n"
    '{{ p.hours | text_lines("hours") -}}\n'
    "{% else %}\n"
    "  Forløbet har intet tidsbudget.\n"
    "{% endif %}\n"
    "{% endfor %}"
)

HOSTILE = "<b>\"A&B\"</b> 'x'"


def _milestone(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "kind_label": "Opgave",
        "owner_label": "tovholder",
        "weeks_text": "uge 3–4",
        "iso_text": "ISO-uge 10–11",
        "when": "8.–19. marts 2027",
        "due_text": "fredag den 19. marts 2027",
    }


def _programme(**changes: Any) -> dict[str, Any]:
    programme = {
        "organisation": "Boligforeningen Syd",
        "municipality": "Aarhus",
        "title": "Socialt beredskab",
        "extensions": ["TILPASSET"],
        "period_text": "4. januar – 26. marts 2027",
        "state_label": "i gang",
        "tovholder": {"name": "Søren", "email": "soren@syd.dk"},
        "week_text": "Uge 3 af 12",
        "iso_week": 4,
        "timeline": [
            {"week": 0, "iso_week": 1, "phase": "past", "marks": "●", "label": "Opstart"},
            {"week": 1, "iso_week": 2, "phase": "current", "marks": "", "label": ""},
        ],
        "upcoming": [_milestone("Kortlægning")],
        "overdue": [_milestone("Invitationer")],
        "meetings": [_milestone("Statusmøde")],
        "answers": [{"meeting": "Statusmøde", "name": "Søren", "answer": "deltager"}],
        "bouncing": ["a@syd.dk", "b@syd.dk"],
        "hours": [
            {
                "title": "Socialt beredskab",
                "status": "within",
                "status_label": "inden for budget",
                "percent_of_max": 60,
                "pace_label": "i takt",
                "summary": "13,5 af 14,8–22,2 timer",
                "segments": [{"kind": "used", "width": 60}, {"kind": "empty", "width": 40}],
                "text_bar": "[######....]",
            }
        ],
    }
    return {**programme, **changes}


def _hostile() -> dict[str, Any]:
    """Every text of a section hostile, as a forged payload could hold."""
    return _programme(
        organisation=HOSTILE,
        municipality=HOSTILE,
        title=HOSTILE,
        extensions=[HOSTILE, "B"],
        period_text=HOSTILE,
        state_label=HOSTILE,
        tovholder={"name": HOSTILE, "email": HOSTILE},
        week_text=HOSTILE,
        iso_week=HOSTILE,
        answers=[{"meeting": HOSTILE, "name": 7, "answer": HOSTILE}],
        bouncing=[HOSTILE, 3],
        upcoming=[_milestone(HOSTILE)],
    )


def test_the_section_filter_writes_what_the_template_loop_wrote() -> None:
    """HTML and plain text, every branch (no upcoming milestones, no overdue tasks, no later
    meetings, answers, bounces, no hours, no extensions) and hostile values: the same text,
    escaped alike."""
    programmes = [
        _programme(),
        _programme(upcoming=[], overdue=[], meetings=[], answers=[], bouncing=[], hours=[]),
        _programme(extensions=[], answers=[], bouncing=[]),
        _hostile(),
    ]
    loop, text_loop = environment().from_string(_LOOP), environment().from_string(_TEXT_LOOP)
    for programme in programmes:
        for form in (programme, revive(json.loads(json.dumps(programme)))):  # stored, too
            assert programme_section(form) == loop.render(programmes=[form])
            assert programme_text(form) == text_loop.render(programmes=[form])
    written = programme_section(_hostile())
    assert "<b>" not in written and "&lt;b&gt;&#34;A&amp;B&#34;&lt;/b&gt; &#39;x&#39;" in written
    assert HOSTILE in programme_text(_hostile())  # plain text: nothing escaped


def test_a_section_with_a_missing_value_is_an_error() -> None:
    """A payload without a value the section shows is refused, as the template refused it
    (render_mail reports either as a RenderError)."""
    broken = _programme()
    del broken["answers"]
    for write in (programme_section, programme_text):
        try:
            write(broken)
        except LookupError:
            continue
        raise AssertionError(f"{write.__name__} wrote a section without its answers")
