"""Every kind of mail fbh sends, from one real flow, with hostile text swapped in.

``marked_flow`` runs one programme through the real service and a real SQLite file: creation
(invites, summary, reminders, task notices), a participant (their reminder, the headcount),
time over budget (budget alerts), two requests (reminders, escalation, a proposal), the
weekly digests and a cancellation (CANCEL invites and notices). Every text a user or a
workflow author controls is a *marker*: a unique word.

``swap`` puts hostile text in place of the markers in a stored outbox payload, and
``render_row`` renders it through ``render_envelope``, the function the outbox worker uses to
build the bytes it hands to the transport. The flow is run once; each hypothesis example only
re-renders, which is what makes hundreds of hostile names affordable.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import mailbox
import shutil
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import inbound_mail
from hostile_input import SENDER, WORKFLOWS

from engine.config.http import HttpSection
from engine.config.settings import DatabaseSection, EngineSection, MailSection, Settings
from engine.domain.courses import registrant as course_registrant
from engine.domain.definitions import load_registry
from engine.domain.model import Contact
from engine.domain.packed import unpacked
from engine.services.courses import NewCourse
from engine.services.delivery_failures import notify_delivery_failed
from engine.services.digests import queue_digests
from engine.services.facade import Fbh, NewProgramme
from engine.services.inbox import InboxDesk
from engine.services.participants import NewParticipant
from engine.services.timelog import log_time
from engine.services.tovholder_mail import queue_tovholder_reminders
from engine.store.store import OutboxMessage, Store
from notifications.envelope import render_envelope
from notifications.mailboxes import MaildirMailbox
from notifications.outbox import OutboxWorker, SendReport, make_transport

CPH = ZoneInfo("Europe/Copenhagen")
CREATED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2027, 2, 1, 10, 0, tzinfo=UTC)
CONSULTANT_EMAIL = "konsulent@bl.dk"
TOVHOLDER_EMAIL = "tovholder@oestervang.dk"
CONTACT_EMAIL = "kontakt@oestervang.dk"

# One marker per text a user or a workflow author controls. Markers are distinct words that
# no template, date or number contains.
MARKERS = {
    "org": "Qorgq",
    "municipality": "Qmunq",
    "consultant": "Qconq",
    "tovholder": "Qtovq",
    "contact": "Qctcq",
    "reason": "Qrsnq",
    "workflow_title": "Qwftq",
    "title": "Qttlq",
    "location": "Qlocq",
    "description": "Qdscq",
}


def marked_workflows(folder: Path) -> Path:
    """The shipped workflows, with the workshop's title, location and description and the
    workflow's title replaced by markers."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in WORKFLOWS.glob("*.toml"):
        shutil.copyfile(path, folder / path.name)
    target = folder / "socialt-beredskab.toml"
    text = target.read_text(encoding="utf-8")
    replacements = [
        ('title = "Socialt beredskab"', f'title = "{MARKERS["workflow_title"]}"'),
        ('title = "Workshop om socialt beredskab"', f'title = "{MARKERS["title"]}"'),
        (
            'location = "Lokalt hos boligorganisationen (lokale og forplejning ved '
            'boligorganisationen)"',
            f'location = "{MARKERS["location"]}"',
        ),
    ]
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    start = text.index('key = "workshop"')
    head, tail = text[:start], text[start:]
    first, _, rest = tail.partition('description = """')
    _, _, rest = rest.partition('"""')
    target.write_text(
        head + first + f'description = "{MARKERS["description"]}"' + rest, encoding="utf-8"
    )
    return folder


def settings_for(home: Path, workflows: Path) -> Settings:
    return Settings(
        base_dir=home,
        engine=EngineSection(workflows=str(workflows)),
        database=DatabaseSection(url=f"sqlite:///{home / 'fbh.sqlite3'}"),
        mail=MailSection(
            maildir=str(home / "mail"),
            sender=SENDER,
            lead="Programleder <lead@bl.dk>",
            queue_ahead_days=3660,  # every reminder and task notice queued at creation
        ),
        http=HttpSection(public_url="https://fbh.example.dk"),  # the tovholder's page links
    )


class Flow:
    """The settings and one outbox row per (kind, calendar method). Not a dataclass, so that
    hypothesis prints it as one short line when it reports an example."""

    def __init__(self, settings: Settings, rows: list[OutboxMessage]) -> None:
        self.settings = settings
        self.rows = rows

    def __repr__(self) -> str:
        return f"<flow of {len(self.rows)} mails>"


def mentions(row: OutboxMessage, fields: Iterable[str]) -> bool:
    """Whether any of these fields' markers is in the row's payload."""
    text = json.dumps(unpacked(row.payload), ensure_ascii=False)
    return any(MARKERS[field] in text for field in fields)


def marked_flow(home: Path) -> Flow:
    settings = settings_for(home, marked_workflows(home / "workflows"))
    store = Store.open(settings.database_url)
    try:
        fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="hostile")
        view = fbh.create_programme(
            NewProgramme(
                workflow="socialt-beredskab",
                organisation=MARKERS["org"],
                municipality=MARKERS["municipality"],
                consultant=Contact(MARKERS["consultant"], CONSULTANT_EMAIL),
                tovholder=Contact(MARKERS["tovholder"], TOVHOLDER_EMAIL),
                start=date(2027, 1, 4),
                extensions=("tilpasset",),
            ),
            CREATED,
        )
        participant = NewParticipant(
            MARKERS["contact"], "deltager@kommune.dk", MARKERS["org"], "municipality"
        )
        fbh.participants.add(view.id, participant, CREATED)  # a reminder and a headcount
        for day in (date(2027, 1, 12), date(2027, 1, 13)):
            log_time(fbh, view.id, hours=12, now=NOW, day=day)  # over the 22.2 h budget
        contact = Contact(MARKERS["contact"], CONTACT_EMAIL)
        for received in (date(2027, 1, 10), date(2027, 1, 25)):
            fbh.add_request(
                organisation=MARKERS["org"],
                contact=contact,
                wished_start=date(2027, 3, 1),
                received=received,
                now=NOW,
            )
        fbh.requests.propose(2, [date(2027, 3, 1)], NOW)
        queue_digests(fbh, NOW)
        queue_tovholder_reminders(fbh, NOW)
        deliver(store, settings)  # invites that went out are cancelled with METHOD:CANCEL
        receive_inbound(fbh, home / "inbox")  # a decline, a request and a bounce
        course_mails(fbh)
        with store.transaction() as tx:  # an invite the server refused: the consultant is told
            refused = next(
                r for r in tx.outbox.find(kinds=["invite"]) if r.recipient == TOVHOLDER_EMAIL
            )
            notify_delivery_failed(fbh, tx, refused, "550 5.1.1 <x@example.dk>: no such user", NOW)
        fbh.cancel(view.id, NOW, reason=f"{MARKERS['reason']}\nmed venlig hilsen")
        with store.transaction() as tx:
            everything = tx.outbox.find()
    finally:
        store.dispose()
    chosen: dict[tuple[str, str | None], OutboxMessage] = {}
    for row in everything:
        method = (row.payload.get("invite") or {}).get("method")
        key = (row.kind, method)
        title = json.dumps(unpacked(row.payload)).count(MARKERS["title"])
        best = json.dumps(unpacked(chosen[key].payload)) if key in chosen else ""
        if key not in chosen or title > best.count(MARKERS["title"]):
            chosen[key] = row  # prefer the workshop: its texts are all markers
    return Flow(settings, [chosen[key] for key in sorted(chosen, key=str)])


def course_mails(fbh: Fbh) -> None:
    """Every kind of BASIS course mail: confirmations, the waiting list, a freed seat, the
    reminders, the venue's roster, the lead's question and a cancellation."""
    course = fbh.courses.add(
        NewCourse(
            city="Aarhus",
            venue="Kursuscentret",
            start=datetime(2027, 3, 9, 9, 0, tzinfo=CPH),
            end=datetime(2027, 3, 9, 15, 0, tzinfo=CPH),
            capacity=2,
            minimum=2,
            decide_by=date(2027, 2, 20),
            venue_email=Contact("Kursuscentret", "lokaler@kursus.dk"),
        ),
        NOW,
    )
    people = [
        course_registrant(f"Deltager {n}", f"deltager{n}@oestervang.dk", MARKERS["org"])
        for n in range(4)
    ]
    fbh.courses.register(course.id, people[0], NOW)  # under the minimum: the lead is asked
    fbh.courses.register_many(course.id, people[1:], NOW)
    fbh.courses.unregister(course.id, people[0].email, NOW)
    deliver(fbh.store, fbh.settings)
    fbh.courses.cancel(course.id, NOW)


def receive_inbound(fbh: Fbh, folder: Path) -> None:
    """The mails inbound mail makes fbh send: the tovholder declines the workshop, an
    organisation requests a programme by e-mail, the tovholder's address bounces."""
    with fbh.store.transaction() as tx:
        invite = next(
            row
            for row in tx.outbox.find()
            if row.kind == "invite"
            and row.recipient == TOVHOLDER_EMAIL
            and "workshop" in row.payload["invite"]["uid"]
        )
    uid = invite.payload["invite"]["uid"]
    when = datetime.fromisoformat(invite.payload["invite"]["start"])
    box = mailbox.Maildir(folder, create=True)
    box.add(
        inbound_mail.reply(
            "gmail", uid=uid, attendee=TOVHOLDER_EMAIL, start=when, name=MARKERS["tovholder"]
        )
    )
    box.add(
        inbound_mail.request(
            sender="anden@oestervang.dk", name=f"{MARKERS['contact']}, {MARKERS['org']}"
        )
    )
    box.add(
        inbound_mail.bounce("postfix", recipient=TOVHOLDER_EMAIL, original_id=invite.message_id)
    )
    report = InboxDesk(fbh).process(MaildirMailbox(folder), NOW)
    assert report.processed == 3, report


def deliver(store: Store, settings: Settings, now: datetime = NOW) -> SendReport:
    """Send what is due through the configured (Maildir) transport, as ``fbh outbox send``."""

    async def run() -> SendReport:
        transport = make_transport(settings)
        try:
            worker = OutboxWorker(store, transport, settings, worker_id="hostile")
            return await worker.drain(lambda: now)
        finally:
            await transport.aclose()

    return asyncio.run(run())


def swap(payload: Any, hostile: Mapping[str, str]) -> Any:
    """The payload with each marker replaced by its hostile text (a JSON round trip)."""
    text = json.dumps(unpacked(payload), ensure_ascii=False)
    for field, value in hostile.items():
        text = text.replace(MARKERS[field], json.dumps(value, ensure_ascii=False)[1:-1])
    return json.loads(text)


def swap_text(text: str, hostile: Mapping[str, str]) -> str:
    for field, value in hostile.items():
        text = text.replace(MARKERS[field], value)
    return text


def render_row(row: OutboxMessage, settings: Settings, hostile: Mapping[str, str]) -> bytes:
    """The bytes the worker would hand to the transport for ``row`` with hostile texts."""
    copy = OutboxMessage(**{**row.model_dump(), "payload": swap(row.payload, hostile)})
    return render_envelope(copy, settings, NOW).data


def parse(raw: bytes, policy: Any = email.policy.default) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy)
    return message  # type: ignore[return-value]


def fold(text: str) -> str:
    return " ".join(text.split())


class Html(HTMLParser):
    """Elements, attributes and the visible text of an HTML part."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.parts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(name for name, _ in attrs)))
        self.attributes += [(tag, name, value) for name, value in attrs]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(("/" + tag, ()))

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    @property
    def visible(self) -> str:
        return fold(" ".join(self.parts))
