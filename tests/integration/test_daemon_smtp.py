"""The daemon's delivery pass over SMTP, against a real aiosmtpd server: the next batch is
claimed while one is sent, connections are kept for the pass, and a batch claimed ahead that
is not sent goes back to ``pending`` without spending an attempt."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from engine.config.daemon import DaemonSection
from engine.daemon.runner import Daemon
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from notifications.transports import SmtpTransport

if TYPE_CHECKING:
    from conftest import ServerFactory, SmtpTestServer

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


def daemon(fbh: Fbh, transport: SmtpTransport, batch_size: int) -> Daemon:
    options = DaemonSection(batch_size=batch_size)
    settings = fbh.settings.model_copy(update={"daemon": options})
    fbh = Fbh(settings, fbh.store, fbh.registry, actor=fbh.actor)
    return Daemon(fbh, transport, clock=lambda: LATER, name="daemon:test")


def smtp(server: SmtpTestServer, **options: object) -> SmtpTransport:
    return SmtpTransport(
        "127.0.0.1",
        server.port,
        starttls=False,
        use_tls=False,
        timeout=10.0,
        local_hostname="fbh.test",
        **options,  # type: ignore[arg-type]
    )


def queue_mail(fbh: Fbh, programmes: int) -> int:
    """Programmes whose invites and summary are due at once; returns how many rows."""
    for index in range(programmes):
        fbh.create_programme(
            NewProgramme(
                workflow="socialt-beredskab",
                organisation=f"Boligselskab {index}",
                municipality="Helsingør",
                consultant=Contact("Anne Konsulent", "anne@bl.dk"),
                tovholder=Contact(f"Tovholder {index}", f"tovholder{index}@example.org"),
                start=date(2027, 1, 4),
            ),
            NOW,
        )
    with fbh.store.transaction() as tx:
        return len([r for r in tx.outbox.find() if r.next_attempt_at <= LATER])


async def test_a_pass_of_many_batches_sends_each_due_message_once_over_kept_connections(
    fbh: Fbh, smtp_server: SmtpTestServer
) -> None:
    due = queue_mail(fbh, 2)
    assert due > 6  # several batches of 3

    sent = await daemon(fbh, smtp(smtp_server, connections=2), batch_size=3).deliver_pass()

    with fbh.store.transaction() as tx:
        rows = [r for r in tx.outbox.find() if r.next_attempt_at <= LATER]
    assert sent == due
    assert {r.state for r in rows} == {"sent"}
    assert {r.attempts for r in rows} == {1}
    received = Counter(
        line.split(b": ", 1)[1].strip().decode()
        for m in smtp_server.messages
        for line in m.data.splitlines()
        if line.startswith(b"Message-ID:")
    )
    assert received == Counter({r.message_id: 1 for r in rows})
    assert smtp_server.connections == 2  # kept from batch to batch
    assert smtp_server.quits == 2  # and closed when the pass ended


async def test_a_batch_claimed_ahead_goes_back_unspent_when_the_login_is_rejected(
    fbh: Fbh, smtp_server_factory: ServerFactory
) -> None:
    server = smtp_server_factory(auth_exclude_mechanism=["LOGIN"])
    server.require_auth = True
    due = queue_mail(fbh, 1)
    transport = smtp(server, username=server.username, password="wrong")

    sent = await daemon(fbh, transport, batch_size=2).deliver_pass()

    with fbh.store.transaction() as tx:
        rows = [r for r in tx.outbox.find() if r.next_attempt_at <= LATER]
    assert sent == 0 and len(rows) == due
    assert {r.state for r in rows} == {"pending"}
    assert {r.attempts for r in rows} == {0}  # neither the batch sent nor the one claimed ahead
    ahead = [r for r in rows if (r.last_error or "").startswith("not sent: delivery stopped")]
    assert len(ahead) == 2  # the batch claimed while the first one was refused
    assert server.messages == []


async def test_a_batch_claimed_ahead_is_sent_only_as_far_as_its_claims_are_still_held(
    fbh: Fbh, smtp_server: SmtpTestServer
) -> None:
    queue_mail(fbh, 1)
    worker = daemon(fbh, smtp(smtp_server), batch_size=3).worker
    batch = worker.claim(LATER, limit=3)
    assert batch is not None and len(batch.envelopes) == 3
    taken = batch.envelopes[0][0]
    with fbh.store.transaction() as tx:  # what a new leader does to a frozen daemon's claims
        assert taken.id is not None
        tx.outbox.unclaim(taken.id, worker.worker_id, LATER, "reclaimed")
        assert taken.id in {r.id for r in tx.outbox.claim_due(LATER, "daemon:other", 100)}

    confirmed = worker.confirm(batch)

    assert confirmed is not None
    assert [row.id for row, _ in confirmed.envelopes] == [row.id for row, _ in batch.envelopes]
    assert taken.id not in {row.id for row, _ in confirmed.envelopes}
    assert len(confirmed.envelopes) == 2
    with fbh.store.transaction() as tx:
        tx.outbox.release_claims(worker.worker_id, LATER)
    assert worker.confirm(confirmed) is None
