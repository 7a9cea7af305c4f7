"""Typed domain vocabulary shared by every layer: enums and small value objects."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from engine.domain.errors import InvalidInputError
from engine.domain.i18n import _


class Role(StrEnum):
    """Who takes part in a milestone or owns a task."""

    CONSULTANT = "consultant"  # the BL consultant who follows the programme from start to end
    TOVHOLDER = "tovholder"  # the local coordinator in the housing organisation
    PARTICIPANTS = "participants"  # local actors invited by the tovholder (not stored by fbh)
    LEAD = "lead"  # BL's programme lead, who watches SLAs and every programme


class MilestoneKind(StrEnum):
    """What a milestone is."""

    MEETING = "meeting"  # has a date and time, produces calendar invites
    TASK = "task"  # a window of weeks in which someone must do something


class Placement(StrEnum):
    """Which free working day in a window a meeting prefers."""

    EARLIEST = "earliest"  # the first free working day (the default)
    LATEST = "latest"  # the last free working day


class ProgrammeState(StrEnum):
    """Life cycle of a programme."""

    PLANNED = "planned"  # created; its first milestone lies in the future
    RUNNING = "running"  # started (week 0 reached, or marked as started)
    PAUSED = "paused"  # on hold; nothing is sent, dates are kept until moved or resumed
    COMPLETED = "completed"  # every milestone is done or skipped, or the end date has passed
    CANCELLED = "cancelled"  # called off; future meetings are cancelled


class MilestoneState(StrEnum):
    """Life cycle of one milestone."""

    PLANNED = "planned"  # placed on the calendar; its window has not opened
    SCHEDULED = "scheduled"  # its window is open (tasks) or its invite is out (meetings)
    DONE = "done"  # held or finished
    SKIPPED = "skipped"  # deliberately left out
    OVERDUE = "overdue"  # its window has closed and it is not done
    CANCELLED = "cancelled"  # its programme was cancelled before it took place


# ----- free text ------------------------------------------------------------------------------
# The limits of every free-text value a user gives fbh (docs/operations.md, "Input limits").
# ``check_text`` enforces them for the CLI and the services alike.
MAX_NAME = 200  # a contact's display name, an organisation, a municipality
MAX_REASON = 1000  # why a programme was cancelled or a request declined (may span lines)
MAX_NOTE = 500  # the note on a time entry
MAX_KEY = 100  # a workflow, extension or milestone key, a time-entry part


def is_control(char: str) -> bool:
    """C0 and C1 control characters and DEL (``ESC``, ``NUL``, ``CSI``, CR, LF, …)."""
    return unicodedata.category(char) == "Cc"


def check_text(
    value: str, what: str, limit: int, *, required: bool = True, multiline: bool = False
) -> str:
    """``value`` with its white space folded, or an ``InvalidInputError`` naming ``what``:
    empty (when ``required``), a control character (ESC/OSC sequences, NUL, CR/LF) or
    longer than ``limit`` characters. ``multiline`` text (a reason told in a mail) keeps its
    line breaks: CR LF and CR become LF, each line is folded."""
    if multiline:
        lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        text = "\n".join(check_text(line, what, limit, required=False) for line in lines)
        check_text(text.replace("\n", " "), what, limit, required=required)  # empty, too long
        return text.strip("\n")
    if any(is_control(char) for char in value):
        raise InvalidInputError(
            _("{what} {value}: control characters are not allowed").format(
                what=what, value=_shown(value)
            )
        )
    cleaned = " ".join(value.split())
    if required and not cleaned:
        raise InvalidInputError(_("{what} must not be empty").format(what=what))
    if len(cleaned) > limit:
        raise InvalidInputError(
            _("{what} is longer than {limit} characters ({length})").format(
                what=what, limit=limit, length=len(cleaned)
            )
        )
    return cleaned


def _shown(value: str) -> str:
    """A value as an error message quotes it: its repr, cut short."""
    return repr(value) if len(value) <= 60 else repr(value[:57]) + "…"


_ADDRESS = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<email>[^<>\s]+@[^<>\s]+\.[^<>\s]+)>\s*$")
_BARE_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_FORBIDDEN = re.compile(r"[\r\n\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*$")  # RFC 5321 dot-atom, ASCII only
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def email_problem(email: str) -> str | None:
    """Why ``email`` cannot be used as an SMTP address (``None`` if it can): an ASCII dot-atom
    local part of at most 64 characters and a domain of letter-digit-hyphen labels, at most
    254 characters in all. Anything else would be refused by the mail library or the server
    only when the message is sent, and the message would be lost."""
    if not email.isascii():
        return _("only ASCII letters are allowed (write a domain like bø.dk as xn--b-5ga.dk)")
    if len(email) > 254:
        return _("longer than 254 characters")
    local, _at, domain = email.rpartition("@")
    if len(local) > 64 or not _LOCAL_PART.match(local):
        return _("the part before '@' must be letters, digits and . _ - + (no '..' or edge dots)")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        return _("the domain must be names of letters, digits and '-' separated by dots")
    if labels[-1].isdigit():
        return "the domain must end in a name, not a number"
    return None


@dataclass(frozen=True)
class Contact:
    """A person's display name and e-mail address, e.g. ``Anna Holm <anna@bl.dk>``."""

    name: str
    email: str

    @classmethod
    def parse(cls, text: str) -> Contact:
        """Parse ``Name <email>`` or a bare address; refuse control characters (CR/LF)."""
        if _FORBIDDEN.search(text) or any(is_control(char) for char in text):
            raise InvalidInputError(
                _("invalid contact {text}: control characters are not allowed").format(
                    text=_shown(text)
                )
            )
        if len(text) > MAX_NAME + 256:  # a display name and an address of at most 254
            raise InvalidInputError(
                _("invalid contact {text}: longer than {limit} characters").format(
                    text=_shown(text), limit=MAX_NAME + 256
                )
            )
        match = _ADDRESS.match(text)
        if match:
            name, email = match["name"].strip().strip('"').strip(), match["email"]
        elif _BARE_EMAIL.match(text.strip()):
            name, email = "", text.strip()
        else:
            raise InvalidInputError(
                _("invalid contact {text!r}: expected 'Name <email>'").format(text=text)
            )
        if not _BARE_EMAIL.match(email):
            raise InvalidInputError(_("invalid e-mail address {email!r}").format(email=email))
        problem = email_problem(email)
        if problem:
            raise InvalidInputError(
                _("invalid e-mail address {email!r}: {problem}").format(
                    email=email, problem=problem
                )
            )
        if len(name) > MAX_NAME:
            raise InvalidInputError(
                _("invalid contact {text}: the name is longer than {limit} characters").format(
                    text=_shown(text), limit=MAX_NAME
                )
            )
        return cls(name=name or email.split("@")[0], email=email.lower())

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class RequestState(StrEnum):
    """Life cycle of a request for a programme."""

    RECEIVED = "received"  # registered; BL must answer with proposed start dates
    PROPOSED = "proposed"  # start dates proposed to the contact: the SLA is met
    ACCEPTED = "accepted"  # the organisation accepted; a programme was created
    DECLINED = "declined"  # the request was declined or withdrawn


# Every kind of mail fbh sends; each has templates <kind>.subject.txt/.txt/.html.
MAIL_KINDS: tuple[str, ...] = (
    "invite",
    "reminder",
    "task_due",
    "programme_summary",
    "programme_cancelled",
    "request_proposal",
    "request_reminder",
    "request_escalation",
    "budget_alert",
    "digest_consultant",
    "digest_lead",
    "meeting_answer",  # a decline or counter-proposal, to the consultant (inbound mail)
    "request_ack",  # a request arrived by e-mail: the acknowledgement to its sender
    "bounce_notice",  # an address bounced: to the consultant of the programme
    "checkin",  # a maintenance check-in after the programme: to the continuing tovholder
    "course_invite",  # a BASIS course: confirmation with REQUEST, or CANCEL
    "course_notice",  # a BASIS course: on the waiting list, or cancelled while waiting
    "course_reminder",  # a BASIS course: reminder to a registered person
    "course_roster",  # a BASIS course: who is coming, to the venue
    "course_decision",  # a BASIS course under its minimum: the question to the lead
    "delivery_failed",  # a message failed for good: to the consultant of the programme
    "tovholder_weekly",  # the weekly reminder with the link to the tovholder's page
    "participant_reminder",  # a participant has not answered the invite (issue 11)
    "headcount",  # who is coming to a participant meeting, to the tovholder (issue 11)
)

# The mail server's verdict on fbh's login, kept in the event log (entity ``mail``): the
# newest of these two events says whether sending is paused (``fbh status``, the metric
# ``fbh_mail_auth_failing``).
MAIL_ENTITY = "mail"
AUTH_FAILED_EVENT = "auth-failed"
AUTH_OK_EVENT = "auth-ok"


class OutboxState(StrEnum):
    """Delivery state of one outbox message."""

    PENDING = "pending"  # waiting for its due time or its next attempt
    SENDING = "sending"  # claimed by a worker; reconciled back to pending if it stays here
    SENT = "sent"  # accepted by the transport
    FAILED = "failed"  # permanent failure (e.g. 550) or out of attempts; shown, not retried
    MISSED = "missed"  # not sent on purpose: it fell due while the daemon was down
    CANCELLED = "cancelled"  # superseded before it was sent (e.g. a reminder of a moved meeting)


@dataclass(frozen=True)
class OutboxDraft:
    """A message to queue, produced in the same transaction as the change that causes it."""

    dedupe_key: str
    kind: str
    recipient: str
    due_at: datetime
    payload: dict[str, Any]
    message_id: str
    programme_id: int | None = None
    milestone_id: int | None = None
