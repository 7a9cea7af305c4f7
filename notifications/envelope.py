"""An outbox row as a message on the wire: rendered from its payload, or its bytes rendered
ahead with a fresh ``Date`` (:func:`envelope_of`), for the outbox worker
(:mod:`notifications.outbox`), rendering ahead (:mod:`notifications.prerender`) and the
listings and feeds that show a row's subject or calendar."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any

from engine.config.settings import Settings
from engine.domain.model import Contact
from engine.domain.packed import payload_context
from engine.store.abc import MailRow
from notifications.invites import InviteSpec, build_calendar
from notifications.mime import Attachment, MailSpec
from notifications.render import Context, render_mail, render_subject
from notifications.rendered import fingerprint, sender_of, with_date
from notifications.transports import Envelope
from notifications.wire import message_bytes

_DATETIME_KEYS = frozenset({"start", "end"})
_DATE_KEYS = frozenset(
    {"window_start", "window_end", "received", "deadline", "wished_start", "start_date", "end_date"}
)


def revive(value: Any, key: str | None = None) -> Any:
    """Turn the ISO strings of a stored payload back into dates and datetimes; dicts become
    :class:`~notifications.render.Context` (a dict whose keys templates read as attributes
    without a failed attribute lookup first). A digest's context has thousands of values, so
    only dicts and lists are walked into."""
    if isinstance(value, dict):
        return _revive_dict(value)
    if isinstance(value, list):
        return _revive_list(value)
    if isinstance(value, str) and key in _DATETIME_KEYS:
        return datetime.fromisoformat(value)
    if isinstance(value, str) and key in _DATE_KEYS:
        return date.fromisoformat(value)
    return value


def _revive_dict(value: dict[str, Any]) -> Context:
    revived = Context()
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            if key in _DATETIME_KEYS:
                item = datetime.fromisoformat(item)
            elif key in _DATE_KEYS:
                item = date.fromisoformat(item)
        elif kind is dict or kind is list:
            item = revive(item, key)
        revived[key] = item
    return revived


def _revive_list(value: list[Any]) -> list[Any]:
    return [revive(item) if type(item) in (dict, list) else item for item in value]


@lru_cache(maxsize=64)
def _calendar(spec: InviteSpec) -> bytes:
    """The calendar of an invite; every recipient of a meeting's invite gets the same one
    (same UID, SEQUENCE, attendees and DTSTAMP), and their rows are claimed together."""
    return build_calendar(spec)


def invite_spec(row: MailRow) -> InviteSpec:
    """The calendar object of an invite row, as sent (also what the calendar feeds show)."""
    invite = revive(row.payload["invite"])
    return InviteSpec(
        uid=invite["uid"],
        sequence=invite["sequence"],
        method=invite["method"],
        summary=invite["summary"],
        description=invite["description"],
        location=invite["location"],
        start=invite["start"],
        end=invite["end"],
        organizer=Contact(invite["organizer"]["name"], invite["organizer"]["email"]),
        attendees=tuple(Contact(a["name"], a["email"]) for a in invite["attendees"]),
        dtstamp=row.created_at,
        partstats=tuple(
            (a["email"], a["partstat"]) for a in invite["attendees"] if "partstat" in a
        ),
        roles=tuple((a["email"], a["role"]) for a in invite["attendees"] if "role" in a),
    )


def subject_of(row: MailRow) -> str:
    """The subject the row's mail has (or would have), for listings."""
    return render_subject(row.payload["template"], revive(payload_context(row.payload)))


def render_envelope(
    row: MailRow, settings: Settings, now: datetime, context: Any = None
) -> Envelope:
    """Build the wire message of an outbox row from its payload alone; ``context``, when
    given, is the payload's context as the template values it was stored from (a row
    rendered as it is queued: no JSON round trip, the same mail)."""
    payload = row.payload
    context = revive(payload_context(payload)) if context is None else context
    rendered = render_mail(payload["template"], context)
    recipient = Contact(payload["to"]["name"], payload["to"]["email"])
    calendar, method = None, None
    if "invite" in payload:
        spec = invite_spec(row)
        method = spec.method
        calendar = _calendar(spec)
    sender = sender_of(settings)
    data = message_bytes(
        MailSpec(
            sender=sender,
            to=(recipient,),
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=row.message_id,
            date=now,
            calendar=calendar,
            calendar_method=method,
            headers=(("X-Fbh-Kind", row.kind),),
            reply_to=_reply_to(payload, recipient),
            attachments=tuple(
                Attachment(a["filename"], a["subtype"], a["text"])
                for a in payload.get("attachments", ())
            ),
        )
    )
    return Envelope(
        message_id=row.message_id,
        sender=sender.email,
        recipients=(recipient.email,),
        data=data,
    )


def envelope_of(row: MailRow, settings: Settings, now: datetime) -> Envelope:
    """The wire message of a claimed row: its stored bytes with ``Date`` set to ``now`` while
    they are current (notifications/rendered.py), else rendered now from its payload."""
    data = row.rendered
    if data is None or row.rendered_with != fingerprint(settings):
        return render_envelope(row, settings, now)
    return Envelope(
        message_id=row.message_id,
        sender=sender_of(settings).email,
        recipients=(row.recipient,),
        data=with_date(data, now),
    )


def _reply_to(payload: dict[str, Any], recipient: Contact) -> Contact | None:
    """``Reply-To`` from the payload (the consultant, see docs/inbound.md), unless that is
    the recipient themselves."""
    found = payload.get("reply_to")
    if not isinstance(found, dict) or found.get("email") == recipient.email:
        return None
    return Contact(str(found.get("name", "")), str(found.get("email", "")))
