"""iTIP/iMIP calendar objects (RFC 5545, RFC 5546) for fbh's meeting invites.

This is the only module that imports :mod:`icalendar`. It builds one VCALENDAR with exactly one
VEVENT per message (docs/notifications.md, "Invites (iTIP / iMIP)"):

* ``METHOD`` is ``REQUEST`` or ``CANCEL``; a cancellation also carries ``STATUS:CANCELLED``.
* ``DTSTAMP`` is in UTC; ``DTSTART``/``DTEND`` use ``TZID=Europe/Copenhagen`` with a hand-built,
  RRULE-based VTIMEZONE. icalendar's generated VTIMEZONE (RDATE lists) was parsed one hour off
  by ical.js (Thunderbird), so it is never used here.
* An instant whose local time is ambiguous (the repeated hour in October) or where the tz
  database disagrees with the EU rule in our VTIMEZONE (before 1996, or after a future rule
  change) is written in UTC instead, so every parser agrees on the instant.

``build_feed`` writes the same VEVENTs, many in one ``METHOD:PUBLISH`` calendar, for the
consultants' calendar feeds (``engine.services.feeds``).
"""

from __future__ import annotations

import re
import unicodedata
from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # icalendar is imported where an invite is built: reads do not load it
    from icalendar import Event, Timezone, vCalAddress

from engine.domain.model import Contact

__all__ = [
    "PRODID",
    "TZID",
    "InviteSpec",
    "build_calendar",
    "build_feed",
    "copenhagen_vtimezone",
    "invite_uid",
]

PRODID = "-//BL Danmarks Almene Boliger//fbh//DA"
TZID = "Europe/Copenhagen"
_ZONE = ZoneInfo(TZID)
_CET = timedelta(hours=1)
_CEST = timedelta(hours=2)

Method = Literal["REQUEST", "CANCEL"]
_STATUS: dict[str, str] = {"REQUEST": "CONFIRMED", "CANCEL": "CANCELLED"}
_UID_PART = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]{1,63})*$")


@dataclass(frozen=True)
class InviteSpec:
    """Everything one invite (or cancellation) says about one meeting."""

    uid: str
    sequence: int
    method: Method
    summary: str
    description: str
    location: str
    start: datetime  # aware
    end: datetime  # aware
    organizer: Contact
    attendees: tuple[Contact, ...]
    dtstamp: datetime  # aware; written in UTC
    # Answers received so far ((email, PARTSTAT) pairs): an update that keeps the time keeps
    # them (engine/services/inbox.py); the others are NEEDS-ACTION.
    partstats: tuple[tuple[str, str], ...] = ()
    # The ROLE of attendees that are not REQ-PARTICIPANT ((email, ROLE) pairs), e.g. the
    # participants' role from the workflow definition ([workflow.participants]).
    roles: tuple[tuple[str, str], ...] = ()


def invite_uid(
    programme_id: int, workflow: str, milestone_key: str, domain: str, installation: str = ""
) -> str:
    """Return the stable UID of a milestone's meeting.

    E.g. ``fbh-3f9c0a1be27d4c55-7-socialt-beredskab-workshop@bl.dk``: with the installation id
    (engine/domain/identity.py), two databases never give two meetings the same UID. Without
    it, the form of programmes created before installation ids (``fbh-7-…``), which keep it.

    The same programme, workflow and milestone always give the same UID, so updates and
    cancellations replace the event in the recipient's calendar.
    """
    if programme_id < 0:
        raise ValueError(f"programme id must not be negative, got {programme_id}")
    for label, part in (("workflow", workflow), ("milestone key", milestone_key)):
        if not _UID_PART.match(part):
            raise ValueError(f"{label} {part!r} must be lowercase letters, digits and '-'")
    host = domain.strip().lower()
    if not _DOMAIN.match(host):
        raise ValueError(f"invalid domain {domain!r}")
    if installation and not _UID_PART.match(installation):
        raise ValueError(f"invalid installation id {installation!r}")
    prefix = f"fbh-{installation}" if installation else "fbh"
    return f"{prefix}-{programme_id}-{workflow}-{milestone_key}@{host}"


def build_calendar(spec: InviteSpec) -> bytes:
    """Serialise ``spec`` as an iTIP VCALENDAR: UTF-8, CRLF line endings, folded lines."""
    _validate(spec)
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", spec.method)
    event = _event(spec)
    if _uses_tzid(event):
        calendar.add_component(copenhagen_vtimezone())
    calendar.add_component(event)
    return bytes(calendar.to_ical())


def build_feed(specs: Iterable[InviteSpec], *, name: str, ttl: timedelta) -> bytes:
    """Serialise many meetings as one subscribable calendar (``METHOD:PUBLISH``).

    Each VEVENT is the invite's own (UID, SEQUENCE, DTSTAMP, times, STATUS), so a calendar
    that has both the mailed invite and the feed sees one meeting. ATTENDEEs are left out:
    RFC 5546 §3.2.1 allows none in a PUBLISH, and a feed is read-only.
    """
    from icalendar import Calendar, vDuration

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", _text(name))
    calendar.add("x-wr-timezone", TZID)
    calendar.add("refresh-interval", ttl, parameters={"VALUE": "DURATION"})  # RFC 7986
    calendar.add("x-published-ttl", vDuration(ttl))  # the same, for Outlook
    events = []
    for spec in specs:
        _validate(spec)
        events.append(_event(spec, attendees=False))
    if any(_uses_tzid(event) for event in events):
        calendar.add_component(copenhagen_vtimezone())
    for event in events:
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def copenhagen_vtimezone() -> Timezone:
    """Return the RRULE-based VTIMEZONE for Europe/Copenhagen (EU rules since 1996)."""
    from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

    standard = TimezoneStandard()
    standard.add("tzname", "CET")
    standard.add("tzoffsetfrom", _CEST)
    standard.add("tzoffsetto", _CET)
    standard.add("dtstart", datetime(1970, 10, 25, 3, 0, 0))  # noqa: DTZ001 - local time
    standard.add("rrule", {"freq": "yearly", "bymonth": 10, "byday": "-1SU"})
    daylight = TimezoneDaylight()
    daylight.add("tzname", "CEST")
    daylight.add("tzoffsetfrom", _CET)
    daylight.add("tzoffsetto", _CEST)
    daylight.add("dtstart", datetime(1970, 3, 29, 2, 0, 0))  # noqa: DTZ001 - local time
    daylight.add("rrule", {"freq": "yearly", "bymonth": 3, "byday": "-1SU"})
    timezone = Timezone()
    timezone.add("tzid", TZID)
    timezone.add_component(standard)
    timezone.add_component(daylight)
    return timezone


def _validate(spec: InviteSpec) -> None:
    if spec.method not in _STATUS:
        raise ValueError(f"method must be REQUEST or CANCEL, got {spec.method!r}")
    if spec.sequence < 0:
        raise ValueError(f"sequence must not be negative, got {spec.sequence}")
    for name in ("start", "end", "dtstamp"):
        value: datetime = getattr(spec, name)
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be an aware datetime, got {value!r}")
    if spec.end <= spec.start:
        raise ValueError(f"end {spec.end.isoformat()} is not after start {spec.start.isoformat()}")
    if not spec.attendees:
        raise ValueError("an invite needs at least one attendee")
    if not spec.uid or _has_control(spec.uid) or " " in spec.uid:
        raise ValueError(f"invalid uid {spec.uid!r}")


def _event(spec: InviteSpec, *, attendees: bool = True) -> Event:
    from icalendar import Event

    event = Event()
    event.add("uid", spec.uid)
    event.add("sequence", spec.sequence)
    event.add("dtstamp", spec.dtstamp.astimezone(UTC))
    event.add("dtstart", _calendar_time(spec.start))
    event.add("dtend", _calendar_time(spec.end))
    event.add("summary", _text(spec.summary))
    if spec.description:
        event.add("description", _text(spec.description, multiline=True))
    if spec.location:
        event.add("location", _text(spec.location))
    event.add("organizer", _address(spec.organizer))
    answered = {email.lower(): partstat for email, partstat in spec.partstats}
    roles = {email.lower(): role for email, role in spec.roles}
    for attendee in _unique(spec.attendees) if attendees else ():
        key = attendee.email.strip().lower()
        partstat = answered.get(key, "NEEDS-ACTION")
        event.add("attendee", _attendee(attendee, partstat, roles.get(key, "REQ-PARTICIPANT")))
    event.add("status", _STATUS[spec.method])
    event.add("transp", "OPAQUE")
    return event


def _calendar_time(moment: datetime) -> datetime:
    """Return ``moment`` in Europe/Copenhagen, or in UTC when local time would be unsafe."""
    local = moment.astimezone(_ZONE)
    if _is_ambiguous(local) or local.utcoffset() != _eu_rule_offset(moment):
        return moment.astimezone(UTC)
    return local


def _is_ambiguous(local: datetime) -> bool:
    other = local.replace(fold=1 - local.fold)
    return other.utcoffset() != local.utcoffset()


def _eu_rule_offset(moment: datetime) -> timedelta:
    """The UTC offset our VTIMEZONE gives: CEST from the last Sunday of March 01:00Z to the
    last Sunday of October 01:00Z, CET otherwise."""
    instant = moment.astimezone(UTC)
    year = instant.year
    summer_starts = _last_sunday(year, 3).replace(hour=1, tzinfo=UTC)
    summer_ends = _last_sunday(year, 10).replace(hour=1, tzinfo=UTC)
    return _CEST if summer_starts <= instant < summer_ends else _CET


def _last_sunday(year: int, month: int) -> datetime:
    last = datetime(year, month, monthrange(year, month)[1])  # noqa: DTZ001 - tz set by caller
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _uses_tzid(event: Event) -> bool:
    return any("TZID" in event[name].params for name in ("DTSTART", "DTEND") if name in event)


def _address(contact: Contact) -> vCalAddress:
    email = contact.email.strip()
    if not email or _has_control(email) or any(c.isspace() for c in email):
        raise ValueError(f"invalid e-mail address {contact.email!r}")
    from icalendar import vCalAddress

    address = vCalAddress(f"mailto:{email}")
    name = _param_text(contact.name)
    if name:
        address.params["CN"] = name
    return address


_PARTSTATS = frozenset({"NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED"})
_ROLES = frozenset({"REQ-PARTICIPANT", "OPT-PARTICIPANT", "NON-PARTICIPANT", "CHAIR"})


def _attendee(
    contact: Contact, partstat: str = "NEEDS-ACTION", role: str = "REQ-PARTICIPANT"
) -> vCalAddress:
    address = _address(contact)
    address.params["CUTYPE"] = "INDIVIDUAL"
    address.params["ROLE"] = role if role in _ROLES else "REQ-PARTICIPANT"
    address.params["PARTSTAT"] = partstat if partstat in _PARTSTATS else "NEEDS-ACTION"
    address.params["RSVP"] = "TRUE"
    return address


def _unique(contacts: tuple[Contact, ...]) -> list[Contact]:
    seen: set[str] = set()
    result: list[Contact] = []
    for contact in contacts:
        key = contact.email.strip().lower()
        if key not in seen:
            seen.add(key)
            result.append(contact)
    return result


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)


def _text(text: str, *, multiline: bool = False) -> str:
    """Normalise line breaks to LF (icalendar escapes them) and blank other control chars."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    keep = "\n" if multiline else ""
    cleaned = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") and c not in keep else c for c in text
    )
    return cleaned.strip() if multiline else " ".join(cleaned.split())


def _param_text(text: str) -> str:
    """A parameter value (CN): one line, no double quotes (RFC 5545 forbids them in params;
    RFC 6868 escaping is not understood by every client)."""
    return _text(text).replace('"', "'")
