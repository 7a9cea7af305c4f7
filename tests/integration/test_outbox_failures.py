"""Messages that cannot go (issue 13 §3), against a real aiosmtpd server, on SQLite and
PostgreSQL, with ``now`` as an input:

* the server rejects fbh's login (535): no message spends an attempt, however long it lasts;
  sending pauses for ``mail.auth_retry_seconds`` between tries; one alarm (one ERROR line,
  one ``auth-failed`` event that ``fbh status`` and ``fbh_mail_auth_failing`` show) and it
  resumes, each message once, when the login works again;
* a message that fails for good tells the programme's consultant in Danish who could not be
  reached (``delivery_failed``), once per failure, never about a notice;
* ``outbox retry`` puts failed messages back, voids the unsent notices about them, and never
  touches one that was sent.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fbhtest import make_settings, visible_text
from smtpserver import HOST, PASSWORD, USERNAME, SmtpTestServer

from engine.config.settings import Settings
from engine.daemon.metrics import mail_metrics
from engine.daemon.runner import Daemon
from engine.domain.errors import SmtpAuthenticationError
from engine.domain.model import Contact
from engine.services.delivery_failures import failure_notices, retry_failed
from engine.services.facade import Fbh, NewProgramme
from engine.services.status import format_status, gather
from engine.store.tables import OutboxMessage
from notifications.outbox import OutboxWorker, SendReport
from notifications.transports import SmtpTransport
from notifications.transports.memory import InMemoryTransport

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
SOREN = Contact("Søren Ærø", "soren@oestervang.dk")
DUE_NOW = 9  # 8 invites and the summary
PAUSE = 300  # mail.auth_retry_seconds
MAX_ATTEMPTS = 3


@pytest.fixture
def settings(tmp_path: Path, backend_url: str) -> Settings:
    return make_settings(
        tmp_path,
        backend_url,
        transport="smtp",
        max_attempts=MAX_ATTEMPTS,
        retry_base_seconds=60,
        auth_retry_seconds=PAUSE,
    )


@pytest.fixture
def programme(fbh: Fbh) -> int:
    view = fbh.create_programme(
        NewProgramme(
            workflow="socialt-beredskab",
            organisation="Boligselskabet Østervang",
            municipality="Helsingør",
            consultant=ANNE,
            tovholder=SOREN,
            start=date(2027, 1, 4),
        ),
        NOW,
    )
    assert view.id is not None
    return view.id


def worker_for(fbh: Fbh, server: SmtpTestServer, *, login: bool = False) -> OutboxWorker:
    transport = SmtpTransport(
        HOST,
        server.port,
        starttls=False,
        use_tls=False,
        username=USERNAME if login else None,
        password=PASSWORD if login else None,
        timeout=5,
    )
    return OutboxWorker(
        fbh.store, transport, fbh.settings, worker_id="test", on_failed=failure_notices(fbh)
    )


def drain(worker: OutboxWorker, now: datetime) -> SendReport:
    return asyncio.run(worker.drain(lambda: now))


def rows(fbh: Fbh, kind: str | None = None) -> list[OutboxMessage]:
    """The messages of ``kind``; by default the ones due at once (invites and summary)."""
    kinds = [kind] if kind else ["invite", "programme_summary"]
    with fbh.store.transaction() as tx:
        return tx.outbox.find(kinds=kinds)


def received(server: SmtpTestServer) -> Counter[str]:
    ids = Counter[str]()
    for message in server.messages:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        ids[str(parsed["Message-ID"])] += 1
    return ids


def alarm_events(fbh: Fbh) -> list[str]:
    with fbh.store.transaction() as tx:
        return [e.event for e in tx.events.find() if e.entity == "mail"]


def auth_failing(fbh: Fbh, now: datetime) -> float:
    with fbh.store.transaction() as tx:
        (metric,) = list(mail_metrics(tx, now))
    return float(metric.samples[0].value)


def test_a_rejected_login_pauses_sending_raises_one_alarm_and_spends_no_attempt(
    fbh: Fbh,
    programme: int,
    smtp_server: SmtpTestServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_server.refuse_logins = 1000  # 535 to every login, whatever the password
    worker = worker_for(fbh, smtp_server, login=True)
    caplog.set_level(logging.INFO)

    first = drain(worker, NOW)
    assert first.auth_failed and "535" in first.auth_failed
    assert first.sent == first.failed == 0
    # Ten more tries, far past max_attempts (3): each after the pause, none before it.
    logins = len(smtp_server.auth_mechanisms)
    assert drain(worker, NOW + timedelta(seconds=PAUSE - 1)).paused  # paused: not even a login
    assert len(smtp_server.auth_mechanisms) == logins
    moment = NOW
    for _ in range(10):
        moment += timedelta(seconds=PAUSE)
        assert drain(worker, moment).auth_failed
    assert len(smtp_server.auth_mechanisms) == logins * 11  # one login (PLAIN, LOGIN) a try

    due = rows(fbh)
    assert len(due) == DUE_NOW
    assert {r.state for r in due} == {"pending"}  # nothing failed, nothing burnt
    assert {r.attempts for r in due} == {0}
    assert all("535" in (r.last_error or "") for r in due)
    assert rows(fbh, "delivery_failed") == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "rejects fbh's login" in errors[0].getMessage()
    assert alarm_events(fbh) == ["auth-failed"]  # one alarm, not one per try
    status = gather(fbh, moment)
    assert status.mail_alarm is not None and "535" in status.mail_alarm.error
    assert status.to_json()["mail_alarm"]["error"] == status.mail_alarm.error
    assert format_status(status, fbh.tz).startswith("ALARM: the mail server rejects")
    assert auth_failing(fbh, moment) == 1.0

    smtp_server.refuse_logins = 0  # the password is fixed
    moment += timedelta(seconds=PAUSE)
    report = drain(worker, moment)
    assert report.sent == DUE_NOW and not report.auth_failed
    assert {r.state for r in rows(fbh)} == {"sent"}
    assert {r.attempts for r in rows(fbh)} == {1}
    assert set(received(smtp_server).values()) == {1}  # each once
    assert set(received(smtp_server)) == {r.message_id for r in rows(fbh)}
    assert alarm_events(fbh) == ["auth-failed", "auth-ok"]
    assert gather(fbh, moment).mail_alarm is None
    assert auth_failing(fbh, moment) == 0.0


def test_a_new_worker_resumes_at_once_and_lowers_an_alarm_raised_before_it(
    fbh: Fbh, programme: int, smtp_server: SmtpTestServer
) -> None:
    """A restart (a new worker: ``fbh serve`` again, or ``fbh outbox send``) tries at once."""
    smtp_server.refuse_logins = 1000
    assert drain(worker_for(fbh, smtp_server, login=True), NOW).auth_failed
    smtp_server.refuse_logins = 0
    report = drain(worker_for(fbh, smtp_server, login=True), NOW + timedelta(seconds=1))
    assert report.sent == DUE_NOW
    assert alarm_events(fbh) == ["auth-failed", "auth-ok"]


def test_a_permanent_failure_tells_the_consultant_in_danish_once(
    fbh: Fbh, programme: int, smtp_server: SmtpTestServer
) -> None:
    smtp_server.rcpt_replies[SOREN.email] = "550 5.1.1 <soren@oestervang.dk>: No such user"
    worker = worker_for(fbh, smtp_server)
    drain(worker, NOW)

    failed = [r for r in rows(fbh) if r.state == "failed"]
    assert failed and {r.recipient for r in failed} == {SOREN.email}
    notices = rows(fbh, "delivery_failed")
    assert len(notices) == len(failed)  # one per failed message
    assert {n.recipient for n in notices} == {ANNE.email}
    assert {n.programme_id for n in notices} == {programme}
    drain(worker, NOW + timedelta(seconds=1))  # the notices go out
    assert {n.state for n in rows(fbh, "delivery_failed")} == {"sent"}
    to_anne = [
        email.message_from_bytes(m.data, policy=email.policy.default)
        for m in smtp_server.messages
        if m.rcpt_tos == (ANNE.email,)
    ]
    notice_mails = [m for m in to_anne if m["X-Fbh-Kind"] == "delivery_failed"]
    assert len(notice_mails) == len(failed)
    mail = notice_mails[0]
    assert mail["Subject"].startswith("E-mail kunne ikke sendes: soren@oestervang.dk")
    text = mail.get_body(("plain",)).get_content()
    assert "Kære Anne Konsulent" in text and "Søren Ærø <soren@oestervang.dk>" in text
    assert "Boligselskabet Østervang" in text and "550 5.1.1" in text
    html = mail.get_body(("html",)).get_content()
    assert "&lt;soren@oestervang.dk&gt;" in html  # the server's reply, escaped
    assert "Søren Ærø <soren@oestervang.dk>" in visible_text(html)

    drain(worker, NOW + timedelta(days=1))  # nothing more: failed stays failed, told once
    assert len(rows(fbh, "delivery_failed")) == len(failed)


def test_a_failed_notice_makes_no_other_notice(
    fbh: Fbh, programme: int, smtp_server: SmtpTestServer
) -> None:
    """Anne's and Søren's addresses both fail: Søren's failures are told to Anne, and the
    notices to Anne fail too; that is where it ends (the lead hears of Anne's own mail)."""
    smtp_server.rcpt_replies[SOREN.email] = "550 5.1.1 No such user"
    smtp_server.rcpt_replies[ANNE.email] = "550 5.1.1 No such user"
    worker = worker_for(fbh, smtp_server)
    for hours in range(4):
        drain(worker, NOW + timedelta(hours=hours))

    all_rows = rows(fbh)
    failed = [r for r in all_rows if r.state == "failed"]
    notices = rows(fbh, "delivery_failed")
    assert {n.state for n in notices} <= {"failed", "sent"}
    about_soren = [n for n in notices if n.recipient == ANNE.email]
    about_anne = [n for n in notices if n.recipient == "lead@bl.dk"]
    assert len(about_soren) == sum(r.recipient == SOREN.email for r in failed)
    assert len(about_anne) == sum(r.recipient == ANNE.email for r in failed)
    assert len(notices) == len(failed)  # none about a notice
    assert {n.state for n in about_soren} == {"failed"}


def test_retry_puts_failed_messages_back_voids_their_notices_and_leaves_sent_ones(
    fbh: Fbh, programme: int, smtp_server: SmtpTestServer
) -> None:
    smtp_server.rcpt_replies[SOREN.email] = "550 5.1.1 No such user"
    worker = worker_for(fbh, smtp_server)
    asyncio.run(worker.deliver_due(NOW))  # one batch: the notices it queues are not sent yet
    failed = {r.id for r in rows(fbh) if r.state == "failed"}
    sent = {r.id for r in rows(fbh) if r.state == "sent"}
    assert failed and sent

    later = NOW + timedelta(hours=1)
    with fbh.store.transaction() as tx:  # sent ones are not failed: untouched
        assert retry_failed(fbh, tx, later, ids=sorted(sent)) == []
        assert sorted(retry_failed(fbh, tx, later)) == sorted(failed)
    by_id = {r.id: r for r in rows(fbh)}
    assert {by_id[i].state for i in sent} == {"sent"}
    assert {(by_id[i].state, by_id[i].attempts, by_id[i].due_at) for i in failed} == {
        ("pending", 0, later)
    }
    assert {n.state for n in rows(fbh, "delivery_failed")} == {"cancelled"}  # never sent

    drain(worker, later)  # still refused: failed again, and told again, once each
    notices = rows(fbh, "delivery_failed")
    assert Counter(n.state for n in notices) == {"cancelled": len(failed), "sent": len(failed)}

    smtp_server.rcpt_replies.clear()
    with fbh.store.transaction() as tx:
        assert sorted(retry_failed(fbh, tx, later)) == sorted(failed)
    drain(worker, later + timedelta(seconds=1))
    assert {r.state for r in rows(fbh)} == {"sent"}
    assert Counter(n.state for n in rows(fbh, "delivery_failed")) == Counter(
        n.state for n in notices
    )  # the notices sent stay sent: nothing is taken back or sent twice
    assert set(received(smtp_server).values()) == {1}  # nothing twice
    assert set(received(smtp_server)) == {
        r.message_id for r in [*rows(fbh), *notices] if r.state == "sent"
    }


async def test_the_daemon_waits_out_the_pause_then_sends_everything_once(
    fbh: Fbh, programme: int
) -> None:
    moment = [NOW]
    transport = InMemoryTransport()
    transport.fail_next_batch(SmtpAuthenticationError("535 5.7.8 bad credentials", code=535))
    daemon = Daemon(fbh, transport, clock=lambda: moment[0], name="daemon:test")
    daemon.timer.start()

    assert await daemon.deliver_pass() == 0
    assert daemon.worker.paused_until == NOW + timedelta(seconds=PAUSE)
    assert daemon.timer.next_run("wake-deliver") == NOW + timedelta(seconds=PAUSE)  # armed
    assert {(r.state, r.attempts) for r in rows(fbh)} == {("pending", 0)}
    assert gather(fbh, NOW).mail_alarm is not None
    for seconds in (1, 60, PAUSE - 1):  # woken by changes or the poll: still paused
        moment[0] = NOW + timedelta(seconds=seconds)
        assert await daemon.deliver_pass() == 0
    assert len(transport.batches) == 1  # one try, not one per wake-up

    moment[0] = NOW + timedelta(seconds=PAUSE)
    assert await daemon.deliver_pass() == DUE_NOW
    assert Counter(e.message_id for e in transport.sent) == {r.message_id: 1 for r in rows(fbh)}
    assert gather(fbh, moment[0]).mail_alarm is None
    await daemon.timer.shutdown()
