"""Jinja2 rendering of fbh's Danish e-mails.

Each kind of mail has three templates in ``notifications/templates/``: ``<kind>.subject.txt``,
``<kind>.txt`` and ``<kind>.html``. HTML templates are autoescaped; text templates are not.
Missing context keys raise :class:`RenderError` (``StrictUndefined``).

The ``da_*`` filters format dates and times in Danish. Aware datetimes are converted to
Europe/Copenhagen first; naive datetimes are refused, because their meaning is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from engine.domain.model import MAIL_KINDS
from notifications.digest_filters import (
    escape_output,
    hours_rows,
    milestone_rows,
    programme_section,
    programme_text,
    text_lines,
    timeline_isos,
    timeline_weeks,
)

if TYPE_CHECKING:  # Jinja loads with the first rendering: `fbh serve` is ready before that
    from jinja2 import Environment

__all__ = [
    "KINDS",
    "LOCAL_TZ",
    "Context",
    "RenderError",
    "RenderedMail",
    "da_date",
    "da_datetime",
    "da_hours",
    "da_period",
    "da_time",
    "da_timespan",
    "da_weekday",
    "environment",
    "iso_week",
    "render_mail",
    "render_subject",
    "timeline_isos",
    "timeline_weeks",
]

LOCAL_TZ = ZoneInfo("Europe/Copenhagen")
TEMPLATE_DIR = Path(__file__).parent / "templates"
KINDS: tuple[str, ...] = MAIL_KINDS

_MONTHS = (
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
)
_WEEKDAYS = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")
_BLANK_LINES = re.compile(r"\n{3,}")


class Context(dict[str, Any]):
    """A template context whose keys templates can also read as attributes (``p.title``).

    Jinja reads ``p.title`` as ``getattr(p, "title")`` first and ``p["title"]`` only after
    that failed; for a plain dict every such read raises and catches an AttributeError. The
    result is the same (a dict method such as ``items`` still wins over a key), only cheaper.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class RenderError(ValueError):
    """A template could not be rendered (unknown kind, missing or wrong context value)."""


@dataclass(frozen=True)
class RenderedMail:
    """The rendered parts of one e-mail."""

    subject: str
    text: str
    html: str


def render_mail(kind: str, context: Mapping[str, Any]) -> RenderedMail:
    """Render the subject, text and HTML of ``kind`` with ``context``."""
    if kind not in KINDS:
        raise RenderError(f"unknown mail kind {kind!r} (known: {', '.join(KINDS)})")
    env = environment()
    from jinja2 import TemplateError

    try:
        subject = env.get_template(f"{kind}.subject.txt").render(context)
        text = env.get_template(f"{kind}.txt").render(context)
        html = env.get_template(f"{kind}.html").render(context)
    # LookupError: a key missing from a payload, as the digest filters read it (in a template
    # it is an undefined value, a TemplateError)
    except (TemplateError, ValueError, TypeError, AttributeError, LookupError) as exc:
        raise RenderError(f"cannot render {kind!r} mail: {exc}") from exc
    return RenderedMail(subject=_one_line(subject), text=_tidy_text(text), html=html)


def render_subject(kind: str, context: Mapping[str, Any]) -> str:
    """Only the subject line of ``kind`` (for listings)."""
    if kind not in KINDS:
        raise RenderError(f"unknown mail kind {kind!r} (known: {', '.join(KINDS)})")
    env = environment()
    from jinja2 import TemplateError

    try:
        return _one_line(env.get_template(f"{kind}.subject.txt").render(context))
    except (TemplateError, ValueError, TypeError, AttributeError) as exc:
        raise RenderError(f"cannot render {kind!r} subject: {exc}") from exc


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The shared Jinja2 environment with fbh's templates and Danish filters."""
    from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape

    from notifications.jinja import FbhEnvironment

    env = FbhEnvironment(
        escape_output=escape_output,
        plain_dicts=(Context, dict),
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates are package data: no stat() of three files per mail
    )
    env.filters.update(
        da_date=da_date,
        da_weekday=da_weekday,
        da_time=da_time,
        da_datetime=da_datetime,
        da_timespan=da_timespan,
        da_period=da_period,
        da_hours=da_hours,
        iso_week=iso_week,
        nl2br=nl2br,
        timeline_weeks=timeline_weeks,
        timeline_isos=timeline_isos,
        milestone_rows=milestone_rows,
        hours_rows=hours_rows,
        text_lines=text_lines,
        programme_section=programme_section,
        programme_text=programme_text,
    )
    return env


def da_date(value: date) -> str:
    """``8. marts 2027``."""
    day = _local_date(value)
    return f"{day.day}. {_MONTHS[day.month - 1]} {day.year}"


def da_weekday(value: date) -> str:
    """``mandag``."""
    return _WEEKDAYS[_local_date(value).weekday()]


def da_time(value: datetime) -> str:
    """``09.00`` (Danish clock notation)."""
    moment = _local(value)
    return f"{moment.hour:02d}.{moment.minute:02d}"


def da_datetime(value: datetime) -> str:
    """``mandag den 8. marts 2027 kl. 09.00``."""
    return f"{da_weekday(value)} den {da_date(value)} kl. {da_time(value)}"


def da_timespan(start: datetime, end: datetime) -> str:
    """``mandag den 8. marts 2027 kl. 09.00–15.00``; spans over midnight name both days."""
    if _local_date(start) == _local_date(end):
        return f"{da_datetime(start)}–{da_time(end)}"
    return f"{da_datetime(start)} – {da_datetime(end)}"


def da_period(start: date, end: date) -> str:
    """A span of days: ``8.–24. marts 2027``, ``29. marts – 2. april 2027`` or one day."""
    first, last = _local_date(start), _local_date(end)
    if first == last:
        return da_date(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}.–{da_date(last)}"
    if first.year == last.year:
        return f"{first.day}. {_MONTHS[first.month - 1]} – {da_date(last)}"
    return f"{da_date(first)} – {da_date(last)}"


def da_hours(value: float) -> str:
    """Hours with a decimal comma and no trailing zeros: 14.8 → ``14,8``, 15.0 → ``15``."""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text.replace(".", ",")


def iso_week(value: date) -> int:
    """The ISO week number (``uge``) of a date or aware datetime."""
    return _local_date(value).isocalendar().week


def nl2br(value: object) -> Markup:
    """Escape ``value`` and turn its line breaks into ``<br>`` (for HTML templates)."""
    return Markup("<br>\n").join(escape(line) for line in str(value).splitlines())


def _local(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no time zone")
    return value.astimezone(LOCAL_TZ)


def _local_date(value: date) -> date:
    if isinstance(value, datetime):
        return _local(value).date()
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date, got {value!r}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)) + "\n"
