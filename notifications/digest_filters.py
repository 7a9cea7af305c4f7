"""The Jinja filters that write the weekly digests' repeated parts, and the escaping of
autoescaped output (:func:`escape_output`), registered by
:func:`notifications.render.environment`.

A consultant's digest has a section for each of some 20 programmes, each with a timeline of
some 15 cells, milestone tables and hours bars: written by templates and macros, each value
cost Jinja a lookup and an escape. These filters write the same text in Python, each tested
equal to the macro or loop it replaced, hostile values included (tests/unit/test_digest.py,
tests/unit/test_digest_sections.py). A missing value raises ``KeyError``, which
:func:`notifications.render.render_mail` reports as a ``RenderError``, as it reports an
undefined value.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape

__all__ = [
    "escape_output",
    "hours_rows",
    "milestone_rows",
    "programme_section",
    "programme_text",
    "text_lines",
    "timeline_isos",
    "timeline_weeks",
]


def escape_output(value: Any) -> str:
    """What ``{{ value }}`` writes into an autoescaped template: the text of
    :func:`markupsafe.escape`, as a plain ``str``.

    Jinja wraps every output value in ``escape``, which returns a :class:`Markup`; a digest
    writes a million values, and making each a ``Markup`` (a Python-level ``__new__``) was
    the largest single cost of rendering one. The output is only joined into the page (and
    a macro's or block's result is still made ``Markup`` by Jinja), so the plain text is
    enough. Strings are escaped as markupsafe's own pure-Python version does, integers need
    no escaping, anything else (``Markup``, objects with ``__html__``) goes to ``escape``.
    """
    kind = type(value)
    if kind is str:
        if "&" in value or "<" in value or ">" in value or "'" in value or '"' in value:
            return (
                value.replace("&", "&amp;")
                .replace(">", "&gt;")
                .replace("<", "&lt;")
                .replace("'", "&#39;")
                .replace('"', "&#34;")
            )
        return value
    if kind is int:
        return str(value)
    return str(escape(value))


_PHASE_CELLS = {"current": '<td class="tc" bgcolor="#1f4e5f"', "past": '<td class="tp"'}
_FUTURE_CELL = '<td class="tf"'


def timeline_weeks(cells: Any) -> Markup:
    """The cells of a digest timeline's week row, as the ``timeline`` macro of
    ``_digest.html`` writes them (tested): a consultant's digest has some 15 cells for each
    of its programmes, and one filter call saves Jinja thousands of lookups. Every value is
    escaped here, as the macro escapes it."""
    found = []
    for c in cells:
        key = (c["phase"], c["label"], c["week"], c["marks"])
        try:
            found.append(_week_cell(*key))
        except TypeError:  # a value that cannot be a cache key (only a forged payload)
            found.append(_week_cell.__wrapped__(*key))
    return Markup("".join(found))


# The week digests show the same few hundred distinct cells again and again (most weeks
# have no marks): each is written once. typed: 1 and True are different cells.
@lru_cache(maxsize=8192, typed=True)
def _week_cell(phase: Any, label: Any, week: Any, marks: Any) -> str:
    title = f' title="{escape_output(label)}"' if label else ""
    text = escape_output(marks) if marks else "&nbsp;"
    return f"{_PHASE_CELLS.get(phase, _FUTURE_CELL)}{title}>{escape_output(week)}<br>{text}</td>"


def timeline_isos(cells: Any) -> Markup:
    """The cells of a digest timeline's ISO week row (see :func:`timeline_weeks`)."""
    found = []
    for c in cells:
        week = c["iso_week"]
        cell = _ISO_CELLS.get(week) if type(week) is int else None
        found.append(f"<td>{escape_output(week)}</td>" if cell is None else cell)
    return Markup("".join(found))


_ISO_CELLS = {week: f"<td>{week}</td>" for week in range(1, 54)}


def milestone_rows(items: Any, overdue: bool = False) -> Markup:
    """A digest's milestone table, as the ``milestone_table`` macro of ``_digest.html``
    writes it (tested): a consultant's digest has some 70 milestones, and one filter call
    saves Jinja eight lookups and escapes for each. Every value is escaped here."""
    title_cell = '<td class="c r">' if overdue else '<td class="c">'
    found = ['<table class="w" width="100%">\n']
    for m in items:
        owner = m["owner_label"]
        found.append(
            f'<tr><td class="c cw">{escape_output(str(m["weeks_text"]).capitalize())}<br>'
            f'<span class="xs">{escape_output(m["iso_text"])}</span></td>{title_cell}'
            f'{escape_output(m["title"])}<br><span class="s">{escape_output(m["kind_label"])}'
            f'{f" ({escape_output(owner)})" if owner else ""}</span></td><td class="c cd">'
            + (
                f"Skulle være løst {escape_output(m['due_text'])}"
                if overdue
                else escape_output(m["when"])
            )
            + "</td></tr>\n"
        )
    found.append("</table>\n")
    return Markup("".join(found))


_BAR_COLOURS = {"used": "#2f7d95", "over": "#c0392b", "band": "#cfe8d4", "empty": "#e4e7ea"}
_STATUS_CLASSES = {"over": "r", "within": "ok"}


def hours_rows(parts: Any) -> Markup:
    """A digest's hours tables, as the ``hours_table`` macro of ``_digest.html`` writes them
    (tested; every value escaped here)."""
    found = []
    for h in parts:
        cls = _STATUS_CLASSES.get(h["status"], "g")
        found.append(
            f'<table class="w" width="100%">\n<tr><td class="n">{escape_output(h["title"])}<br>'
            f'<span class="s"><b class="{cls}">'
            f"{escape_output(str(h['status_label']).capitalize())}</b> "
            f"({escape_output(h['percent_of_max'])} % af maksimum) · tempo: "
            f"{escape_output(h['pace_label'])}</span></td>"
            f'<td class="n" align="right" valign="top"><b class="{cls}">'
            f"{escape_output(h['summary'])}</b></td></tr>\n"
            '<tr><td colspan="2"><table class="w" width="100%"><tr>'
        )
        for s in h["segments"]:
            colour = _BAR_COLOURS.get(s["kind"])
            if colour is None:  # the macro's colours[kind] is undefined: an error
                raise ValueError(f"no colour for a bar segment of kind {s['kind']!r}")
            found.append(
                f'<td class="bar" width="{escape_output(s["width"])}%" bgcolor="{colour}">'
                "&nbsp;</td>"
            )
        found.append("</tr></table></td></tr>\n</table>\n")
    return Markup("".join(found))


def text_lines(items: Any, form: str) -> str:
    """A consultant digest's plain-text list of a programme's milestones (``form``:
    upcoming, overdue, meetings) or hours, one line per item (two per part of hours), as
    the loops of ``digest_consultant.txt`` wrote them (tested): a digest has some 70."""
    found = []
    for m in items:
        if form == "upcoming":
            found.append(
                f"  - {str(m['weeks_text']).capitalize()} ({m['iso_text']}): {m['title']} "
                f"({str(m['kind_label']).lower()}) – {m['when']}\n"
            )
        elif form == "overdue":
            found.append(f"  - {m['title']} – skulle være løst {m['due_text']}\n")
        elif form == "meetings":
            found.append(f"  - {m['title']} – {m['when']}\n")
        else:
            found.append(
                f"  {m['title']}: {m['summary']} – {m['status_label']}, tempo {m['pace_label']}\n"
                f"  {m['text_bar']} {m['percent_of_max']} % af maksimum\n"
            )
    return "".join(found)


def programme_section(p: Any) -> Markup:
    """One programme's section of a consultant's HTML digest, from its heading to its hours,
    as the loop body of ``digest_consultant.html`` wrote it (tested against it, every branch
    and hostile values included): a digest has a section for each of some 20 programmes, and
    writing one here saves Jinja some 30 lookups and escapes for each. Every value is
    escaped, as the template escapes it."""
    tovholder = p["tovholder"]
    email = escape_output(tovholder["email"])
    extensions = "".join(f" + {escape_output(e)}" for e in p["extensions"])
    timeline = p["timeline"]
    found = [
        f"<h2>{escape_output(p['organisation'])} · {escape_output(p['municipality'])}</h2>\n\n"
        '<table class="w" width="100%">\n'
        f'<tr><td class="hd"><strong>{escape_output(p["title"])}</strong>{extensions}<br>'
        f'<span class="g">{escape_output(p["period_text"])} · {escape_output(p["state_label"])}'
        f" · tovholder {escape_output(tovholder['name'])} "
        f'(<a href="mailto:{email}">{email}</a>)</span></td><td class="wk" width="150">'
        f"<strong>{escape_output(p['week_text'])}</strong><br>"
        f'<span class="s">ISO-uge {escape_output(p["iso_week"])}</span></td></tr>\n</table>\n'
        '<table class="tl" width="100%" cellpadding="0" cellspacing="0">\n'
        f'<tr><td class="tl">Uge</td>{timeline_weeks(timeline)}</tr>\n'
        f'<tr class="ti"><td>ISO</td>{timeline_isos(timeline)}</tr>\n</table>\n'
        '<p class="lg">● møde &nbsp; ■ opgave &nbsp; <b style="color:#1f4e5f">▌</b> denne uge'
        '</p>\n\n<p class="sh">Denne og de næste to uger</p>\n\n',
        milestone_rows(p["upcoming"])
        if p["upcoming"]
        else '<p class="n">Ingen milepæle i de næste tre uger.</p>\n',
    ]
    if p["overdue"]:
        found.append(
            f'<p class="sh">Overskredne opgaver</p>\n\n{milestone_rows(p["overdue"], True)}\n'
        )
    if p["meetings"]:
        found.append(f'<p class="sh">Senere møder</p>\n\n{milestone_rows(p["meetings"])}\n')
    if p["answers"]:
        found.append('<p class="sh">Svar på invitationer</p>\n\n')
        for a in p["answers"]:
            text = f"{a['meeting']}: {a['name']} – {a['answer']}"
            found.append(f'<p class="n">{escape_output(text)}</p>\n')
    if p["bouncing"]:
        found.append(
            '<p class="sh">Adresser, der ikke kan modtage e-mail</p>\n\n'
            f'<p class="n">{escape_output(", ".join(str(b) for b in p["bouncing"]))}</p>\n\n'
        )
    found.append('<p class="sh">Tovholderens tidsforbrug</p>\n\n')
    found.append(
        hours_rows(p["hours"])
        if p["hours"]
        else '<p class="n">Forløbet har intet tidsbudget.</p>\n'
    )
    return Markup("".join(found))


def programme_text(p: Any) -> str:
    """One programme's section of a consultant's plain-text digest, as the loop body of
    ``digest_consultant.txt`` wrote it (tested against it)."""
    tovholder = p["tovholder"]
    extensions = "".join(f" + {e}" for e in p["extensions"])
    found = [
        f"\n\n== {p['organisation']} · {p['municipality']} ==\n{p['title']}{extensions}\n"
        f"{p['week_text']} · ISO-uge {p['iso_week']} · {p['period_text']} · "
        f"{p['state_label']}\nTovholder: {tovholder['name']} <{tovholder['email']}>\n\n"
        "Denne og de næste to uger:\n",
        text_lines(p["upcoming"], "upcoming")
        if p["upcoming"]
        else "  Ingen milepæle i de næste tre uger.\n",
    ]
    if p["overdue"]:
        found.append(f"\nOverskredne opgaver:\n{text_lines(p['overdue'], 'overdue')}")
    if p["meetings"]:
        found.append(f"\nSenere møder:\n{text_lines(p['meetings'], 'meetings')}")
    if p["answers"]:
        found.append("\nSvar på invitationer:\n")
        found += [f"  - {a['meeting']}: {a['name']} – {a['answer']}\n" for a in p["answers"]]
    if p["bouncing"]:
        bouncing = ", ".join(str(b) for b in p["bouncing"])
        found.append(f"\nAdresser, der ikke kan modtage e-mail: {bouncing}\n")
    found.append("\nTovholderens tidsforbrug:\n")
    found.append(
        text_lines(p["hours"], "hours") if p["hours"] else "  Forløbet har intet tidsbudget.\n"
    )
    return "".join(found)
