"""The BASIS course calendar's vocabulary: cities, states, read models, and the CSV of
registrations (pure: no I/O; the caller reads the file).

A course is ``planned`` or ``cancelled`` in the database; a planned course whose end has
passed is shown as ``held`` (:func:`shown_state`). A registration is ``registered`` or
``waitlisted``; the waiting list is kept in the order people signed up.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.domain.errors import InvalidInputError
from engine.domain.i18n import _
from engine.domain.model import MAX_NAME, Contact, check_text

CITIES: tuple[str, ...] = ("København", "Aarhus")
PLANNED, CANCELLED, HELD = "planned", "cancelled", "held"
REGISTERED, WAITLISTED = "registered", "waitlisted"
CSV_HEADER: tuple[str, ...] = ("navn", "email", "organisation")
BOM = "\ufeff"


def city_of(text: str, what: str = "city") -> str:
    """The city as written in the calendar; refuses any other (BASIS is never held locally)."""
    text = check_text(text, what, MAX_NAME)
    wanted = unicodedata.normalize("NFC", text).casefold()
    for city in CITIES:
        if city.casefold() == wanted:
            return city
    raise InvalidInputError(
        _("invalid city {city!r}: BASIS is held in {cities}").format(
            city=text, cities=" or ".join(CITIES)
        )
    )


def shown_state(state: str, end: datetime, now: datetime) -> str:
    """``planned``, ``cancelled``, or ``held`` for a planned course that has ended."""
    return HELD if state == PLANNED and end <= now else state


@dataclass(frozen=True)
class Registrant:
    """A person to register: only what is stored."""

    name: str
    email: str
    organisation: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email, "org": self.organisation}


@dataclass(frozen=True)
class CourseView:
    id: int
    city: str
    venue: str
    venue_email: str | None
    start: datetime
    end: datetime
    capacity: int
    minimum: int | None
    decide_by: date | None
    state: str  # planned | cancelled | held
    registered: tuple[Registrant, ...]
    waitlist: tuple[Registrant, ...]

    def to_json(self, tz: ZoneInfo) -> dict[str, Any]:
        return {
            "id": self.id,
            "city": self.city,
            "venue": self.venue,
            "venue_email": self.venue_email,
            "start": self.start.astimezone(tz).isoformat(),
            "end": self.end.astimezone(tz).isoformat(),
            "capacity": self.capacity,
            "minimum": self.minimum,
            "decide_by": self.decide_by.isoformat() if self.decide_by else None,
            "registered": [r.to_json() for r in self.registered],
            "waitlist": [r.to_json() for r in self.waitlist],
            "state": self.state,
        }


def registrant(name: str, email: str, organisation: str) -> Registrant:
    """A checked registrant (the address lower-cased)."""
    contact = Contact.parse(email.strip())
    if contact.email != email.strip().lower():
        raise InvalidInputError(_("invalid e-mail address {email!r}").format(email=email))
    return Registrant(
        check_text(name, "name", MAX_NAME),
        contact.email,
        check_text(organisation, "organisation", MAX_NAME),
    )


def parse_csv(data: bytes, source: str) -> list[Registrant]:
    """The rows of a registration CSV as a Danish Excel writes it: UTF-8 (with or without a
    BOM), ``;``-separated, header ``navn;email;organisation``. Every bad row is named; any
    problem refuses the whole file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            _("{source}: not UTF-8 text (byte {offset}); save it as 'CSV UTF-8'").format(
                source=source, offset=exc.start
            )
        ) from None
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    if not rows or tuple(cell.strip().lower() for cell in rows[0]) != CSV_HEADER:
        raise InvalidInputError(
            _("{source}: row 1: the header must be {header}").format(
                source=source, header=";".join(CSV_HEADER)
            )
        )
    found: list[Registrant] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(CSV_HEADER):
            problems.append(
                _("row {row}: expected {n} fields, got {got}").format(
                    row=number, n=len(CSV_HEADER), got=len(row)
                )
            )
            continue
        try:
            person = registrant(*row)
        except InvalidInputError as exc:
            problems.append(_("row {row}: {problem}").format(row=number, problem=exc))
            continue
        if person.email in seen:
            problems.append(
                _("row {row}: {email} is listed twice").format(row=number, email=person.email)
            )
        seen.add(person.email)
        found.append(person)
    if problems:
        raise InvalidInputError(
            _("{source}: nothing imported: {problems}").format(
                source=source, problems="; ".join(problems)
            )
        )
    return found
