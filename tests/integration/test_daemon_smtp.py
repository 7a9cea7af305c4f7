"""The daemon's delivery pass over SMTP, against a real aiosmtpd server: many batches, each
message sent once, over connections kept for the whole pass."""

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
    from conftest import SmtpTestServer

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
