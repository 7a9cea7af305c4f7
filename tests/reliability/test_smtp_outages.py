"""SMTP outages against a real aiosmtpd server: refused connections, a server that never
greets, 4xx and 5xx replies at RCPT and after DATA, a reply that never comes, and a server
that drops the connection in the middle of DATA.

Two levels:

* the outbox worker in this process with ``now`` as an input (one case per fault): a transient
  failure keeps its rows ``pending`` with backoff and delivers them, once, when the fault
  ends; a permanent one marks them ``failed`` with a ``failed`` event and counts them in the
  status; retries end after ``mail.max_attempts``, visibly;
* the real ``fbh serve`` through a sequence of outages, ending with every transient failure
  delivered once and the 5xx ones shown by ``fbh status`` and ``fbh outbox list``.

Message-IDs are counted at the server. The one duplicate SMTP allows (the server stored the
message, its reply was lost) is its own case and is counted separately.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from faults import (
    Daemons,
    SmtpSwitch,
    burst,
    delivery,
    make_cli,
    outbox,
    poll,
    read,
    settled,
    start_daemon,
)
from fbhcli import Cli
from fbhtest import make_settings

from engine.config.settings import Settings, SmtpSection
from engine.domain.definitions import load_registry
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.services.status import gather
from engine.store.store import OutboxMessage, Store
from notifications.outbox import OutboxWorker, SendReport, make_transport

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANNE = Contact("Anne Konsulent", "anne@bl.dk")
SOREN = Contact("Søren Ærø", "soren@oestervang.dk")
TIMEOUT = 0.5  # the SMTP client's timeout (a network timeout, not a schedule)
RETRY = 60  # mail.retry_base_seconds
DUE_NOW = 9  # 8 invites and the summary


@dataclass
class Outbox:
    """fbh in this process, delivering with the outbox worker at a given ``now``."""

    fbh: Fbh
    settings: Settings

    @property
    def store(self) -> Store:
        return self.fbh.store

    async def deliver(self, now: datetime) -> SendReport:
        transport = make_transport(self.settings)
        try:
            worker = OutboxWorker(self.store, transport, self.settings, worker_id="reliability")
            return await worker.drain(lambda: now)
        finally:
            await transport.aclose()

    def rows(self) -> list[OutboxMessage]:
        with self.store.transaction() as tx:
            return [r for r in tx.outbox.find() if r.due_at <= NOW]

    def failed_events(self) -> int:
        with self.store.transaction() as tx:
            return len(tx.events.find(event="failed"))


@pytest.fixture
def box(tmp_path: Path, smtp: SmtpSwitch) -> Iterator[Outbox]:
    smtp_settings = SmtpSection(host="127.0.0.1", port=smtp.port, starttls=False, timeout=TIMEOUT)
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'fbh.sqlite3'}",
        transport="smtp",
        smtp=smtp_settings,
        retry_base_seconds=RETRY,
        max_attempts=3,
    )
    store = Store.open(settings.database_url)
    fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="reliability")
    fbh.create_programme(
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
    yield Outbox(fbh, settings)
    store.dispose()


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[SmtpSwitch], None]
    permanent: bool = False
    everyone: bool = False  # the whole server is out, not one recipient
    signature: str = ""  # in last_error of the rows it hit


def _knob(name: str, value: object) -> Callable[[SmtpSwitch], None]:
    def inject(smtp: SmtpSwitch) -> None:
        knob = getattr(smtp.server, name)
        if isinstance(knob, set):
            knob.add(SOREN.email)
        else:
            knob[SOREN.email] = value

    return inject


FAULTS = [
    Fault("refused", lambda s: s.off(), everyone=True, signature="cannot connect"),
    Fault("no greeting", lambda s: s.silent(), everyone=True, signature="Timed out"),
    Fault("451 at RCPT", _knob("rcpt_replies", "451 4.7.1 Greylisted"), signature="451"),
    Fault("452 after DATA", _knob("data_replies", "452 4.3.1 Disk full"), signature="452"),
    Fault("RCPT reply timeout", _knob("rcpt_delays", TIMEOUT * 4), signature="lost"),
    Fault("drop in DATA", _knob("drop_in_data", None), signature="lost"),
    Fault("550 at RCPT", _knob("rcpt_replies", "550 5.1.1 No such user"), True, signature="550"),
    Fault("554 after DATA", _knob("data_replies", "554 5.7.1 Rejected"), True, signature="554"),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_a_fault_is_retried_or_failed_and_nothing_is_sent_twice(
    box: Outbox, smtp: SmtpSwitch, fault: Fault, tally: object
) -> None:
    fault.inject(smtp)
    during = await box.deliver(NOW)
    tally.faults(1)  # type: ignore[attr-defined]

    rows = box.rows()
    assert len(rows) == DUE_NOW
    hit = [r for r in rows if r.recipient == SOREN.email or fault.everyone]
    assert hit and all(r.state != "sent" for r in hit)
    assert any(fault.signature in (r.last_error or "") for r in hit), [r.last_error for r in hit]
    if fault.permanent:
        assert {r.state for r in hit} == {"failed"}
        assert {r.state for r in rows if r not in hit} == {"sent"}
        assert box.failed_events() == len(hit)
        assert gather(box.fbh, NOW).outbox.get("failed") == len(hit)
    else:  # whatever failed waits for a retry, a minute on
        waiting = [r for r in rows if r.state != "sent"]
        assert {r.state for r in waiting} == {"pending"}
        assert {r.next_attempt_at for r in waiting} == {NOW + timedelta(seconds=RETRY)}
        assert during.failed == 0 and box.failed_events() == 0

    smtp.up()
    smtp.server.clear()
    assert (await box.deliver(NOW + timedelta(seconds=RETRY - 1))).claimed == 0  # backing off
    await box.deliver(NOW + timedelta(seconds=RETRY))
    assert (await box.deliver(NOW + timedelta(hours=2))).claimed == 0

    rows = box.rows()
    expected = {r.message_id for r in rows if not (fault.permanent and r in hit)}
    assert {r.message_id for r in rows if r.state == "sent"} == expected
    received = smtp.received()
    assert set(received) == expected
    assert set(received.values()) == {1}  # nothing twice
    tally.sent(len(expected))  # type: ignore[attr-defined]
    tally.lost(len(expected - set(received)))  # type: ignore[attr-defined]


BREAKERS = [f for f in FAULTS if f.name in ("drop in DATA", "RCPT reply timeout")]


@pytest.mark.parametrize("fault", BREAKERS, ids=[f.name for f in BREAKERS])
async def test_a_message_that_breaks_the_connection_holds_back_no_other(
    box: Outbox, smtp: SmtpSwitch, fault: Fault, tally: object
) -> None:
    """Søren's server drops the connection in DATA (or never answers RCPT) on every attempt.
    The messages behind his in the same batch were never tried: they must not share his
    retries, his backoff or his fate after ``max_attempts`` (3 here)."""
    fault.inject(smtp)
    for moment in (NOW, NOW + timedelta(seconds=RETRY), NOW + timedelta(seconds=3 * RETRY)):
        await box.deliver(moment)
        tally.faults(1)  # type: ignore[attr-defined]

    rows = box.rows()
    to_anne = {r.message_id: r for r in rows if r.recipient == ANNE.email}
    to_soren = [r for r in rows if r.recipient == SOREN.email]
    assert {r.state for r in to_anne.values()} == {"sent"}
    assert {r.attempts for r in to_anne.values()} == {1}
    assert {r.state for r in to_soren} == {"failed"}
    assert all((r.last_error or "").startswith("gave up after 3 attempts") for r in to_soren)
    received = smtp.received()
    assert received == Counter(dict.fromkeys(to_anne, 1))  # each once; Søren's never arrived
    tally.sent(len(to_anne))  # type: ignore[attr-defined]
    tally.lost(len(set(to_anne) - set(received)))  # type: ignore[attr-defined]


async def test_a_lost_reply_after_data_is_the_one_duplicate_smtp_allows(
    box: Outbox, smtp: SmtpSwitch, tally: object
) -> None:
    """The server stored the message, its "250" came after the client's timeout: fbh cannot
    tell this from a message that never arrived, retries, and the server gets it twice, with
    the same Message-ID. Only such messages are doubled (each of Søren's here: the server
    swallows every reply to him); docs/operations.md states the window."""
    smtp.server.reply_delays[SOREN.email] = TIMEOUT * 4
    await box.deliver(NOW)
    tally.faults(1)  # type: ignore[attr-defined]
    stored = smtp.received()
    unconfirmed = [r for r in box.rows() if r.message_id in stored and r.state != "sent"]
    assert unconfirmed and {r.recipient for r in unconfirmed} == {SOREN.email}
    assert {r.state for r in unconfirmed} == {"pending"}

    smtp.server.clear()
    await box.deliver(NOW + timedelta(seconds=RETRY))
    result = delivery_of(box, smtp)
    assert result["lost"] == set()
    assert result["duplicates"] == {r.message_id: 1 for r in unconfirmed}
    tally.sent(len(result["expected"]))  # type: ignore[attr-defined]


def delivery_of(box: Outbox, smtp: SmtpSwitch) -> dict[str, object]:
    expected = {r.message_id for r in box.rows() if r.state == "sent"}
    received = smtp.received()
    return {
        "expected": expected,
        "lost": expected - set(received),
        "duplicates": {k: n - 1 for k, n in received.items() if n > 1},
    }


async def test_retries_end_after_max_attempts_visibly(
    box: Outbox, smtp: SmtpSwitch, tally: object
) -> None:
    """An outage longer than the retries (3 attempts here: at 0, +1 min, +3 min) leaves the
    messages ``failed``, each with a ``failed`` event and counted by ``fbh status``; one that
    ends before the last attempt loses nothing."""
    smtp.off()
    moments = [NOW, NOW + timedelta(seconds=RETRY), NOW + timedelta(seconds=3 * RETRY)]
    for moment in moments[:2]:
        await box.deliver(moment)
        tally.faults(1)  # type: ignore[attr-defined]
    assert {r.state for r in box.rows()} == {"pending"}
    assert {r.attempts for r in box.rows()} == {2}

    await box.deliver(moments[2])  # the last attempt, still refused
    tally.faults(1)  # type: ignore[attr-defined]
    rows = box.rows()
    assert {r.state for r in rows} == {"failed"}
    assert all((r.last_error or "").startswith("gave up after 3 attempts") for r in rows)
    assert box.failed_events() == DUE_NOW
    assert gather(box.fbh, moments[2]).outbox.get("failed") == DUE_NOW

    smtp.up()
    assert (await box.deliver(NOW + timedelta(days=1))).claimed == 0  # failed stays failed
    assert smtp.received() == Counter()


# ----- the daemon through a sequence of outages ----------------------------------------------

DAEMON_MAIL = "retry_base_seconds = 0.5\nretry_cap_seconds = 8\nmax_attempts = 1000"


def errors_of(cli: Cli, recipient: str) -> list[str]:
    return [r.last_error or "" for r in outbox(cli) if r.recipient == recipient]


def failed_events(cli: Cli) -> int:
    with read(cli) as tx:
        return len(tx.events.find(event="failed"))


@pytest.mark.slow
def test_the_daemon_rides_out_a_sequence_of_smtp_outages(
    tmp_path: Path, daemons: Daemons, smtp: SmtpSwitch, tally: object
) -> None:
    cli = make_cli(
        tmp_path,
        "sqlite:///var/fbh.sqlite3",
        mail=smtp.mail(timeout=TIMEOUT, extra=DAEMON_MAIL),
    )
    smtp.off()
    due = burst(cli, 4)  # programmes 0–3: k0…k3@bl.dk, t0…t3@org.dk
    served = start_daemon(daemons, cli, "outages")
    served.wait_ready()

    def attempted(signature: str) -> Callable[[], bool]:
        """Every message due so far has been tried and failed with ``signature``."""

        def check() -> bool:
            rows = [r for r in outbox(cli) if r.due_at <= datetime.now(UTC)]
            return bool(rows) and all(signature in (r.last_error or "") for r in rows)

        return check

    # 1. nothing listens; 2. a listener that never greets
    poll(attempted("cannot connect"), 20, "refused connections tried")
    smtp.silent()
    poll(attempted("Timed out"), 20, "timeouts tried")
    # 3. the server is back, but refuses or loses some recipients
    server = smtp.up()
    server.rcpt_replies["t0@org.dk"] = "451 4.7.1 Greylisted"
    server.data_replies["t1@org.dk"] = "452 4.3.1 Disk full"
    server.drop_in_data.add("k2@bl.dk")
    server.rcpt_delays["k3@bl.dk"] = TIMEOUT * 4
    server.rcpt_replies["t2@org.dk"] = "550 5.1.1 No such user"
    server.data_replies["t3@org.dk"] = "554 5.7.1 Rejected"
    poll(
        lambda: all(
            any(s in e for e in errors_of(cli, r))
            for r, s in [
                ("t0@org.dk", "451"),
                ("t1@org.dk", "452"),
                ("k2@bl.dk", "lost"),
                ("k3@bl.dk", "lost"),
            ]
        ),
        30,
        "each transient fault seen",
    )
    permanent = {"t2@org.dk", "t3@org.dk"}
    poll(
        lambda: (
            {
                r.state
                for r in outbox(cli)
                if r.recipient in permanent and r.due_at <= datetime.now(UTC)
            }
            == {"failed"}
        ),
        30,
        "5xx marked failed",
    )
    tally.faults(8)  # type: ignore[attr-defined]
    # 4. the outage ends
    server.clear()
    poll(lambda: settled(cli), 30, "every transient failure delivered")
    assert served.proc.poll() is None  # the daemon lived through it all
    status = json.loads(cli("status", "--json").out)
    failed_list = json.loads(cli("outbox", "list", "--state", "failed", "--json").out)
    assert served.stop()[0] == 0

    rows = [r for r in outbox(cli) if r.due_at <= datetime.now(UTC)]
    failed = [r for r in rows if r.state == "failed"]
    assert {r.recipient for r in failed} == permanent
    assert len(failed) == 2 * 5  # each tovholder's 4 invites and summary
    assert status["outbox"]["failed"] == len(failed)
    assert {row["recipient"] for row in failed_list} == permanent
    # the whole reply, not "550" alone: the error also names the Message-ID, random hex
    replies = ("550 5.1.1 No such user", "554 5.7.1 Rejected")
    assert all(sum(reply in (r.last_error or "") for reply in replies) == 1 for r in failed), [
        r.last_error for r in failed
    ]
    assert failed_events(cli) == len(failed)  # each reported in the event log
    result = delivery(cli, smtp)
    assert result.lost == set() and result.extra == set()
    assert result.duplicates == Counter()  # nothing sent twice
    assert {r.state for r in rows} == {"sent", "failed"}
    assert len(result.expected) + len(failed) >= due
    tally.sent(len(result.expected))  # type: ignore[attr-defined]
    tally.lost(len(result.lost))  # type: ignore[attr-defined]


async def test_outbox_retry_failed_after_an_outage_past_max_attempts_delivers_everything_once(
    box: Outbox, smtp: SmtpSwitch, tmp_path: Path, tally: object
) -> None:
    """Søren's server refuses him (451) past ``max_attempts`` (3): his messages end
    ``failed`` while Anne's went out. ``fbh outbox show`` says why; ``fbh outbox retry
    --failed`` puts them back and ``fbh outbox send`` delivers them: at the server every
    message arrived exactly once, Anne's not again."""
    smtp.server.rcpt_replies[SOREN.email] = "451 4.7.1 Greylisted"
    for moment in (NOW, NOW + timedelta(seconds=RETRY), NOW + timedelta(seconds=3 * RETRY)):
        await box.deliver(moment)
        tally.faults(1)  # type: ignore[attr-defined]
    rows = box.rows()
    failed = sorted(r.id for r in rows if r.state == "failed")
    sent = [r for r in rows if r.state == "sent"]
    assert failed and sent and len(failed) + len(sent) == DUE_NOW
    assert {r.recipient for r in rows if r.id in failed} == {SOREN.email}

    cli = make_cli(
        tmp_path / "cli",
        f"sqlite:///{tmp_path / 'fbh.sqlite3'}",
        mail=smtp.mail(timeout=TIMEOUT),
    )
    shown = cli("outbox", "show", str(failed[0]), "--json").json()
    assert shown["state"] == "failed" and shown["attempts"] == 3
    assert shown["recipient"] == SOREN.email and shown["subject"]
    assert "451 4.7.1 Greylisted" in shown["last_error"]
    assert [e["event"] for e in shown["events"]] == ["failed"]
    again = cli("outbox", "retry", str(sent[0].id), check=False)
    assert again.code == 2 and "is sent, not failed" in again.err  # never sent twice

    smtp.server.rcpt_replies.clear()  # the outage ends
    assert cli("outbox", "retry", "--failed", "--json").json() == {"retried": failed}
    retried = cli("outbox", "show", str(failed[0]), "--json").json()
    assert retried["state"] == "pending" and retried["attempts"] == 0
    assert [e["event"] for e in retried["events"]] == ["failed", "retried"]
    assert cli("outbox", "send", "--json").json()["sent"] >= len(failed)
    assert cli("outbox", "retry", "--failed", "--json").json() == {"retried": []}

    rows = box.rows()
    assert {r.state for r in rows} == {"sent"}
    received = smtp.received()
    assert {m: received[m] for m in (r.message_id for r in rows)} == {
        r.message_id: 1 for r in rows
    }  # every message once: Søren's after the retry, Anne's not again
    assert set(received.values()) == {1}
    tally.sent(len(rows))  # type: ignore[attr-defined]
    tally.lost(0)  # type: ignore[attr-defined]
