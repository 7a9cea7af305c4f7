"""The lead digest's full overview as CSV attachments, for Danish Excel.

The lead's mail lists what needs attention first and only a bounded number of rows per
section (``LEAD_LIST_LIMIT``), so it stays far below the size mail servers refuse (Postfix's
default ``message_size_limit`` is 10 MB) at any number of programmes. Every live programme,
and every consultant's meetings per week, are in two attached CSV files instead: UTF-8 with a
byte order mark and ``;`` between fields (what Danish Excel opens without an import dialogue,
as ``fbh participant import/export`` does), numbers with a decimal comma, dates as ISO dates.

The columns are few on purpose, so 10,000 programmes fit in a mail of 1 MB: the hours used
of the base part and of an extension (TILPASSET) with their budget status (``under``,
``inden for``, ``over``: against the part's minimum and maximum), not the budgets themselves.
A running programme's status is empty; ``Uge`` is negative before the start.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from engine.domain.digest import LeadDigest, ProgrammeDigest
from engine.domain.workdays import iso_week

__all__ = ["load_csv", "overview_attachments", "programmes_csv"]

BOM = "\ufeff"
PROGRAMME_COLUMNS = (
    "Nr.",
    "Boligorganisation",
    "Kommune",
    "Konsulent",
    "Status",
    "Uge",
    "Start",
    "Overskredne opgaver",
    "Timer",
    "Budget",
    "Udvidelse",
    "Udvidelse timer",
    "Udvidelse budget",
)
# Short, so 10,000 rows stay small: a running programme's status is empty.
_STATES = {"planned": "planlagt", "running": "", "paused": "på pause"}
_BUDGET = {"under": "under", "within": "inden for", "over": "over"}


def _number(value: float) -> str:
    """``10,5`` (Danish decimal comma), ``22`` without decimals."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def _write(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _programme_row(p: ProgrammeDigest) -> list[object]:
    base = p.hours[0] if p.hours else None
    extension = p.hours[1] if len(p.hours) > 1 else None
    return [
        p.id,
        p.organisation,
        p.municipality,
        p.consultant.name,
        _STATES.get(p.state, p.state),
        p.week,
        p.start.isoformat(),
        len(p.overdue),
        _number(base.used_hours) if base else "",
        _BUDGET[base.status] if base else "",
        extension.part.key if extension else "",
        _number(extension.used_hours) if extension else "",
        _BUDGET[extension.status] if extension else "",
    ]


def programmes_csv(programmes: Sequence[ProgrammeDigest]) -> str:
    """Every live programme, one row each, in the lead digest's order."""
    return _write(PROGRAMME_COLUMNS, (_programme_row(p) for p in programmes))


def load_csv(digest: LeadDigest) -> str:
    """Each consultant's meetings in this and the next weeks (the lead digest's load)."""
    header = ["Konsulent", "E-mail", *(f"Uge {iso_week(m)[1]}" for m in digest.load_weeks)]
    rows = ([r.consultant.name, r.consultant.email, *r.meetings] for r in digest.load)
    return _write(header, rows)


def overview_attachments(digest: LeadDigest, week_label: str) -> list[dict[str, str]]:
    """The attachments of the lead's digest as stored in its outbox payload
    (``notifications.envelope.render_envelope`` attaches them)."""
    return [
        {
            "filename": f"forloeb-{week_label}.csv",
            "subtype": "csv",
            "text": programmes_csv(digest.programmes),
        },
        {"filename": f"moeder-{week_label}.csv", "subtype": "csv", "text": load_csv(digest)},
    ]
