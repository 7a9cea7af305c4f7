"""A consultant digest's programme sections, HTML and plain text, written in Python: the
filters ``programme_section`` and ``programme_text`` of the Jinja environment
(:func:`notifications.render.environment`). A digest has a section for each of some 20
programmes, and the template's loop read some 30 values through Jinja's lookups for each;
these write the same text (tests/unit/test_digest_sections.py compares them with the loops
they replaced, every branch and hostile values included). Missing values raise
``KeyError``, which :func:`notifications.render.render_mail` reports as a ``RenderError``.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from notifications.render import (
    escape_output,
    hours_rows,
    milestone_rows,
    text_lines,
    timeline_isos,
    timeline_weeks,
)

__all__ = ["programme_section", "programme_text"]


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
