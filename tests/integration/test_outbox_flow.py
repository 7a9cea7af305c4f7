"""Issue flow: programme changes → outbox → real SMTP server, parsed back independently.

Messages are parsed with the stdlib ``email`` parser and invites with vobject, neither of
which fbh uses to build them.
"""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import vobject
from fbhtest import make_settings

from engine.config.settings import Settings, SmtpSection
from engine.domain.definitions import load_registry
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.store.store import Store
from notifications.outbox import OutboxWorker, SendReport, make_transport

CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
SOREN = Contact("Søren Ærø", "soren@oestervang.dk")


@dataclass(frozen=True)
class Invite:
    recipient: str
    method: str
    uid: str
    sequence: int
    start: datetime
    status: str


def smtp_settings(tmp_path: Path, url: str, port: int, timeout: float = 5.0) -> Settings:
    smtp = SmtpSection(host="127.0.0.1", port=port, starttls=False, timeout=timeout)
    return make_settings(tmp_path, url, transport="smtp", smtp=smtp, retry_base_seconds=60)


def deliver(store: Store, settings: Settings, now: datetime) -> SendReport:
    import asyncio

    async def run() -> SendReport:
        transport = make_transport(settings)
        try:
            worker = OutboxWorker(store, transport, settings, worker_id="test")
            return await worker.drain(lambda: now)
        finally:
            await transport.aclose()

    return asyncio.run(run())


def invites(server: object) -> list[Invite]:
    found = []
    for received in server.messages:  # type: ignore[attr-defined]
        message = email.message_from_bytes(received.data, policy=email.policy.default)
        for part in message.walk():
            if part.get_content_type() != "text/calendar":
                continue
            calendar = vobject.readOne(part.get_content())
            event = calendar.vevent
            assert part.get_param("method") == calendar.method.value
            found.append(
                Invite(
                    recipient=received.rcpt_tos[0],
                    method=calendar.method.value,
                    uid=event.uid.value,
                    sequence=int(event.sequence.value),
                    start=event.dtstart.value,
                    status=event.status.value,
                )
            )
    return found


@pytest.fixture
def flow(tmp_path: Path, backend_url: str, smtp_server: object) -> tuple[Fbh, Settings]:
    settings = smtp_settings(tmp_path, backend_url, smtp_server.port)  # type: ignore[attr-defined]
    store = Store.open(settings.database_url)
    yield Fbh(settings, store, load_registry(settings.workflows_dir), actor="test"), settings
    store.dispose()


def new_programme(fbh: Fbh) -> int:
    view = fbh.create_programme(
        NewProgramme(
            workflow="socialt-beredskab",
            organisation="Boligselskabet Østervang <script>",
            municipality="Helsingør",
            consultant=ANNE,
            tovholder=SOREN,
            start=date(2027, 1, 4),
        ),
        NOW,
    )
    return view.id


def test_create_reschedule_cancel_send_exactly_the_right_invites(
    flow: tuple[Fbh, Settings], smtp_server: object
) -> None:
    fbh, settings = flow
    pid = new_programme(fbh)
    first = deliver(fbh.store, settings, NOW)
    assert first.failed == 0 and first.retried == 0
    requests = invites(smtp_server)
    meetings = [m for m in fbh.show(pid).milestones if m.planned.is_meeting]
    per_recipient = Counter((i.recipient, i.uid) for i in requests)
    assert set(per_recipient.values()) == {1}
    assert {r for r, _ in per_recipient} == {ANNE.email, SOREN.email}
    assert len(per_recipient) == 2 * len(meetings)
    assert {i.method for i in requests} == {"REQUEST"} and {i.sequence for i in requests} == {0}
    workshop_uid = next(i.uid for i in requests if i.start == datetime(2027, 3, 8, 8, tzinfo=UTC))

    assert deliver(fbh.store, settings, NOW).claimed == 0  # a second send sends nothing
    for received in smtp_server.messages:  # type: ignore[attr-defined]
        message = email.message_from_bytes(received.data, policy=email.policy.default)
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "\r\n" in received.data.decode("ascii", "replace")

    smtp_server.messages.clear()  # type: ignore[attr-defined]
    fbh.reschedule(pid, "workshop", datetime(2027, 3, 9, 9, 0, tzinfo=CPH), NOW)
    deliver(fbh.store, settings, NOW)
    updates = invites(smtp_server)
    assert sorted(i.recipient for i in updates) == sorted([ANNE.email, SOREN.email])
    assert {(i.uid, i.sequence, i.method) for i in updates} == {(workshop_uid, 1, "REQUEST")}
    assert {i.start for i in updates} == {datetime(2027, 3, 9, 8, 0, tzinfo=UTC)}

    smtp_server.messages.clear()  # type: ignore[attr-defined]
    fbh.cancel(pid, NOW)
    deliver(fbh.store, settings, NOW)
    cancels = [i for i in invites(smtp_server)]
    assert {i.method for i in cancels} == {"CANCEL"} and {i.status for i in cancels} == {
        "CANCELLED"
    }
    per_meeting = Counter((i.recipient, i.uid) for i in cancels)
    assert set(per_meeting.values()) == {1} and len(per_meeting) == 2 * len(meetings)
    workshop_cancel = [i for i in cancels if i.uid == workshop_uid]
    assert {i.sequence for i in workshop_cancel} == {2}
    assert deliver(fbh.store, settings, NOW).claimed == 0


def test_smtp_outage_keeps_messages_pending_then_delivers_each_once(
    tmp_path: Path, backend_url: str, smtp_server: object, closed_port: int
) -> None:
    down = smtp_settings(tmp_path, backend_url, closed_port)
    store = Store.open(down.database_url)
    try:
        fbh = Fbh(down, store, load_registry(down.workflows_dir), actor="test")
        pid = new_programme(fbh)
        report = deliver(store, down, NOW)
        assert report.sent == 0 and report.retried > 0
        with store.transaction() as tx:
            due_now = [r for r in tx.outbox.find(programme_id=pid) if r.due_at <= NOW]
        assert {r.state for r in due_now} == {"pending"}
        assert all("127.0.0.1" in (r.last_error or "") for r in due_now)
        assert {r.attempts for r in due_now} == {1}

        up = smtp_settings(tmp_path, backend_url, smtp_server.port)  # type: ignore[attr-defined]
        assert deliver(store, up, NOW).claimed == 0  # backing off: not due yet
        later = NOW + timedelta(minutes=2)
        report = deliver(store, up, later)
        assert report.sent == len(due_now) and report.retried == 0
        ids = Counter(
            email.message_from_bytes(m.data)["Message-ID"]
            for m in smtp_server.messages  # type: ignore[attr-defined]
        )
        assert len(ids) == len(due_now) and set(ids.values()) == {1}
    finally:
        store.dispose()


def test_permanent_and_temporary_rejections(
    flow: tuple[Fbh, Settings], smtp_server: object
) -> None:
    fbh, settings = flow
    smtp_server.rcpt_replies[SOREN.email] = "550 5.1.1 <soren@oestervang.dk>: no such user"  # type: ignore[attr-defined]
    smtp_server.rcpt_replies[ANNE.email] = "451 4.3.2 try again later"  # type: ignore[attr-defined]
    pid = new_programme(fbh)
    report = deliver(fbh.store, settings, NOW)
    assert report.sent == 0 and report.failed > 0 and report.retried > 0
    with fbh.store.transaction() as tx:
        rows = [r for r in tx.outbox.find(programme_id=pid) if r.due_at <= NOW]
        failures = tx.events.find(programme_id=pid, event="failed")
    to_soren = [r for r in rows if r.recipient == SOREN.email]
    to_anne = [r for r in rows if r.recipient == ANNE.email]
    assert {r.state for r in to_soren} == {"failed"}
    assert all("no such user" in (r.last_error or "") for r in to_soren)
    assert len(failures) == len(to_soren)
    assert {r.state for r in to_anne} == {"pending"}

    del smtp_server.rcpt_replies[ANNE.email]  # type: ignore[attr-defined]
    report = deliver(fbh.store, settings, NOW + timedelta(hours=1))
    assert report.sent == len(to_anne) and report.failed == 0  # the failed ones are not retried


def test_connection_dropped_mid_data_is_retried(
    flow: tuple[Fbh, Settings], smtp_server: object
) -> None:
    fbh, settings = flow
    smtp_server.drop_in_data.add(SOREN.email)  # type: ignore[attr-defined]
    pid = new_programme(fbh)
    first = deliver(fbh.store, settings, NOW)
    assert first.retried > 0
    with fbh.store.transaction() as tx:
        pending = [
            r for r in tx.outbox.find(programme_id=pid, states=["pending"]) if r.due_at <= NOW
        ]
    assert SOREN.email in {r.recipient for r in pending}
    smtp_server.drop_in_data.clear()  # type: ignore[attr-defined]
    deliver(fbh.store, settings, NOW + timedelta(hours=1))
    with fbh.store.transaction() as tx:
        due = [r for r in tx.outbox.find(programme_id=pid) if r.due_at <= NOW]
    assert {r.state for r in due} == {"sent"}
    received = Counter(
        email.message_from_bytes(m.data)["Message-ID"]
        for m in smtp_server.messages  # type: ignore[attr-defined]
    )
    assert sorted(received) == sorted(r.message_id for r in due)
    assert set(received.values()) == {1}


def test_a_rejected_password_keeps_every_message_pending(
    tmp_path: Path, backend_url: str, smtp_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.require_auth = True  # type: ignore[attr-defined]
    monkeypatch.setenv("FBH_SMTP_PASSWORD", "wrong")
    smtp = SmtpSection(
        host="127.0.0.1",
        port=smtp_server.port,
        starttls=False,
        username="fbh",  # type: ignore[attr-defined]
    )
    settings = make_settings(tmp_path, backend_url, transport="smtp", smtp=smtp)
    store = Store.open(settings.database_url)
    try:
        fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="test")
        pid = new_programme(fbh)
        report = deliver(store, settings, NOW)
        assert report.sent == 0 and report.failed == 0 and report.retried == 0
        assert report.auth_failed and "535" in report.auth_failed
        with store.transaction() as tx:
            due = [r for r in tx.outbox.find(programme_id=pid) if r.due_at <= NOW]
        assert {r.state for r in due} == {"pending"}
        assert {r.attempts for r in due} == {0}  # the password's fault, not the messages'
        assert (
            deliver(store, settings, NOW + timedelta(days=1)).auth_failed  # a new worker tries
        )
        with store.transaction() as tx:
            due = [r for r in tx.outbox.find(programme_id=pid) if r.due_at <= NOW]
        assert {(r.state, r.attempts) for r in due} == {("pending", 0)}
        assert all(
            "535" in (r.last_error or "") or "auth" in (r.last_error or "").lower() for r in due
        )
    finally:
        store.dispose()


def test_a_worker_whose_claims_were_released_records_nothing_for_them(
    flow: tuple[Fbh, Settings], smtp_server: object
) -> None:
    """The claim is the fence when outcomes are recorded, a batch at a time: a worker that
    was presumed dead (its claims released and delivered by another) finds its claims gone and
    counts them as lost; it does not mark rows it no longer holds."""
    import asyncio

    fbh, settings = flow
    new_programme(fbh)
    for address in (ANNE.email, SOREN.email):  # worker a is slow: the server takes its time
        smtp_server.rcpt_delays[address] = 0.2  # type: ignore[attr-defined]

    async def run() -> tuple[SendReport, SendReport, int]:
        slow, quick = make_transport(settings), make_transport(settings)
        try:
            a = OutboxWorker(fbh.store, slow, settings, worker_id="a")
            b = OutboxWorker(fbh.store, quick, settings, worker_id="b")
            sending = asyncio.create_task(a.deliver_due(NOW, limit=100))
            while True:  # until a has claimed its batch (a condition, not a schedule)
                with fbh.store.transaction() as tx:
                    claimed = sum(1 for r in tx.outbox.find(states=["sending"]))
                if claimed:
                    break
                await asyncio.sleep(0.01)
            with fbh.store.transaction() as tx:
                released = tx.outbox.release_claims("a", NOW)  # what the leader does for a dead one
            smtp_server.rcpt_delays.clear()  # type: ignore[attr-defined]
            return await sending, await b.drain(lambda: NOW), released
        finally:
            await slow.aclose()
            await quick.aclose()

    report_a, report_b, released = asyncio.run(run())

    assert released > 0
    assert report_a.sent == 0 and report_a.lost_claims == released
    assert report_b.sent == released
    with fbh.store.transaction() as tx:
        rows = tx.outbox.find(states=["sent"])
    assert len(rows) == released and {r.claimed_by for r in rows} == {"b"}
