"""SmtpTransport against a real aiosmtpd server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import gc
import sys
import warnings
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from mime_reference import build_message, to_bytes

from engine.domain.errors import ConfigError, SmtpAuthenticationError, TransportError
from engine.domain.model import Contact
from notifications.mime import MailSpec, message_id_for
from notifications.transports import DeliveryResult, Envelope, SmtpTransport

if TYPE_CHECKING:
    from conftest import ServerFactory, SmtpTestServer, TlsFiles

SENDER = "fbh@bl.dk"
TIMEOUT = 10.0  # generous: TLS handshakes on a loaded CI machine must not flake
SHORT_TIMEOUT = 0.5  # for the tests about timeouts (a network timeout, not a schedule wait)


def envelope(recipient: str, key: str = "k") -> Envelope:
    message_id = message_id_for(f"{key}:{recipient}", "bl.dk")
    spec = MailSpec(
        sender=Contact("Fra bolig til hjem", SENDER),
        to=(Contact("Modtager Ærø", recipient),),
        subject="Påmindelse: Workshop – Socialt beredskab (Boligselskabet Øst)",
        text="Kære modtager\nHusk workshoppen på mandag.\n",
        html="<p>Kære modtager</p>",
        message_id=message_id,
        date=datetime(2027, 3, 1, 8, 0, tzinfo=UTC),
    )
    return Envelope(message_id, SENDER, (recipient,), to_bytes(build_message(spec)))


def transport(port: int, **options: object) -> SmtpTransport:
    settings: dict[str, object] = {
        "starttls": False,
        "use_tls": False,
        "timeout": TIMEOUT,
        "local_hostname": "fbh.test",
    }
    settings.update(options)
    return SmtpTransport("127.0.0.1", port, **settings)  # type: ignore[arg-type]


def errors(results: list[DeliveryResult]) -> list[TransportError]:
    return [r.error for r in results if r.error is not None]


async def test_batch_of_three_uses_one_connection(smtp_server: SmtpTestServer) -> None:
    batch = [envelope(f"person{i}@example.org") for i in range(3)]

    results = await transport(smtp_server.port).send_batch(batch)

    assert [r.ok for r in results] == [True, True, True]
    assert [r.message_id for r in results] == [e.message_id for e in batch]
    assert smtp_server.connections == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [e.recipients for e in batch]
    received = email.message_from_bytes(smtp_server.messages[0].data, policy=email.policy.default)
    assert received["Message-ID"] == batch[0].message_id
    assert received["Subject"] == "Påmindelse: Workshop – Socialt beredskab (Boligselskabet Øst)"
    assert smtp_server.messages[0].mail_from == SENDER


async def test_550_for_a_recipient_is_a_permanent_failure(smtp_server: SmtpTestServer) -> None:
    smtp_server.rcpt_replies["ghost@example.org"] = "550 5.1.1 <ghost@example.org>: No such user"
    batch = [envelope(r) for r in ("ok1@example.org", "ghost@example.org", "ok2@example.org")]

    results = await transport(smtp_server.port).send_batch(batch)

    assert [r.ok for r in results] == [True, False, True]
    error = results[1].error
    assert error is not None
    assert error.permanent is True
    assert error.code == 550
    assert "No such user" in str(error)
    assert smtp_server.connections == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ("ok1@example.org",),
        ("ok2@example.org",),
    ]


async def test_451_for_a_recipient_is_transient(smtp_server: SmtpTestServer) -> None:
    smtp_server.rcpt_replies["busy@example.org"] = "451 4.7.1 Greylisted, try again later"

    results = await transport(smtp_server.port).send_batch([envelope("busy@example.org")])

    error = results[0].error
    assert error is not None
    assert error.permanent is False
    assert error.code == 451
    assert "Greylisted" in str(error)


async def test_5xx_after_data_is_permanent(smtp_server: SmtpTestServer) -> None:
    smtp_server.data_replies["spam@example.org"] = "554 5.7.1 Message rejected as spam"

    results = await transport(smtp_server.port).send_batch([envelope("spam@example.org")])

    error = results[0].error
    assert error is not None
    assert (error.permanent, error.code) == (True, 554)
    assert "rejected as spam" in str(error)


async def test_partial_refusal_is_ok_and_lists_the_refused(smtp_server: SmtpTestServer) -> None:
    smtp_server.rcpt_replies["ghost@example.org"] = "550 5.1.1 No such user"
    both = envelope("ok@example.org")
    both = Envelope(both.message_id, SENDER, ("ok@example.org", "ghost@example.org"), both.data)

    [result] = await transport(smtp_server.port).send_batch([both])

    assert result.ok
    [(rcpt, error)] = result.rejected
    assert rcpt == "ghost@example.org"
    assert (error.permanent, error.code) == (True, 550)
    assert smtp_server.messages[0].rcpt_tos == ("ok@example.org",)


async def test_connection_refused_raises_transient(closed_port: int) -> None:
    with pytest.raises(TransportError) as caught:
        await transport(closed_port).send_batch([envelope("a@example.org")])

    assert caught.value.permanent is False
    assert caught.value.__cause__ is not None


async def test_no_greeting_times_out_transient(silent_port: int) -> None:
    with pytest.raises(TransportError) as caught:
        await transport(silent_port, timeout=SHORT_TIMEOUT).send_batch([envelope("a@example.org")])

    assert caught.value.permanent is False
    assert isinstance(caught.value.__cause__, TimeoutError)


async def test_timeout_mid_batch_fails_the_rest_transiently(smtp_server: SmtpTestServer) -> None:
    smtp_server.rcpt_delays["slow@example.org"] = SHORT_TIMEOUT * 4
    batch = [envelope("first@example.org"), envelope("slow@example.org"), envelope("x@example.org")]

    results = await transport(smtp_server.port, timeout=SHORT_TIMEOUT).send_batch(batch)

    assert results[0].ok
    assert [r.message_id for r in results] == [e.message_id for e in batch]
    for error in errors(results):
        assert error.permanent is False
        assert isinstance(error.__cause__, TimeoutError)
    assert len(errors(results)) == 2


async def test_disconnect_mid_data_is_transient(smtp_server: SmtpTestServer) -> None:
    smtp_server.drop_in_data.add("dropped@example.org")
    batch = [envelope("first@example.org"), envelope("dropped@example.org"), envelope("z@x.org")]

    results = await transport(smtp_server.port).send_batch(batch)

    assert [r.ok for r in results] == [True, False, False]
    assert all(not e.permanent for e in errors(results))
    assert len(smtp_server.messages) == 1


async def test_auth_plain_succeeds_with_the_right_password(smtp_server: SmtpTestServer) -> None:
    smtp_server.require_auth = True

    smtp = transport(smtp_server.port, username=smtp_server.username, password=smtp_server.password)

    results = await smtp.send_batch([envelope("a@example.org")])

    assert results[0].ok
    assert smtp_server.auth_mechanisms == ["PLAIN"]
    assert smtp_server.messages[0].login == smtp_server.username


async def test_auth_login_succeeds_with_the_right_password(
    smtp_server_factory: ServerFactory,
) -> None:
    server = smtp_server_factory(auth_exclude_mechanism=["PLAIN"])
    server.require_auth = True

    smtp = transport(server.port, username=server.username, password=server.password)

    results = await smtp.send_batch([envelope("a@example.org")])

    assert results[0].ok
    assert server.auth_mechanisms == ["LOGIN"]


async def test_wrong_password_fails_permanently(smtp_server: SmtpTestServer) -> None:
    smtp_server.require_auth = True

    smtp = transport(smtp_server.port, username=smtp_server.username, password="forkert")

    with pytest.raises(SmtpAuthenticationError) as caught:
        await smtp.send_batch([envelope("a@example.org")])

    assert caught.value.permanent is True
    assert caught.value.code == 535
    assert smtp_server.messages == []


async def test_missing_auth_is_refused_permanently(smtp_server: SmtpTestServer) -> None:
    smtp_server.require_auth = True

    results = await transport(smtp_server.port).send_batch([envelope("a@example.org")])

    error = results[0].error
    assert error is not None
    assert (error.permanent, error.code) == (True, 530)


async def test_starttls_and_auth(smtp_server_factory: ServerFactory, tls_files: TlsFiles) -> None:
    server = smtp_server_factory(
        tls_context=tls_files.server_context(), require_starttls=True, auth_require_tls=True
    )
    server.require_auth = True
    smtp = transport(
        server.port,
        starttls=True,
        username=server.username,
        password=server.password,
        cert_bundle=str(tls_files.cert),
    )

    results = await smtp.send_batch([envelope("a@example.org"), envelope("b@example.org")])

    assert [r.ok for r in results] == [True, True]
    assert server.connections == 1
    assert server.messages[0].login == server.username


async def test_starttls_with_an_untrusted_certificate_is_transient(
    smtp_server_factory: ServerFactory, tls_files: TlsFiles
) -> None:
    server = smtp_server_factory(tls_context=tls_files.server_context(), require_starttls=True)

    with pytest.raises(TransportError) as caught:
        await transport(server.port, starttls=True).send_batch([envelope("a@example.org")])

    assert caught.value.permanent is False
    assert server.messages == []


async def test_implicit_tls(smtp_server_factory: ServerFactory, tls_files: TlsFiles) -> None:
    server = smtp_server_factory(ssl_context=tls_files.server_context())
    smtp = transport(server.port, use_tls=True, cert_bundle=str(tls_files.cert))

    results = await smtp.send_batch([envelope("a@example.org")])

    assert results[0].ok
    assert len(server.messages) == 1


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_a_tls_session_leaves_no_open_socket_when_the_loop_ends_at_once(
    smtp_server_factory: ServerFactory, tls_files: TlsFiles, mode: str
) -> None:
    """The CLI sends with asyncio.run: the socket must be closed by the time the loop stops,
    not left waiting for the server's TLS close_notify (a ResourceWarning, fd leak)."""
    context = tls_files.server_context()
    if mode == "starttls":
        server = smtp_server_factory(tls_context=context, require_starttls=True)
        smtp = transport(server.port, starttls=True, cert_bundle=str(tls_files.cert))
    else:
        server = smtp_server_factory(ssl_context=context)
        smtp = transport(server.port, use_tls=True, cert_bundle=str(tls_files.cert))
    unraisable: list[str] = []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda report: unraisable.append(str(report.exc_value))
    loop = asyncio.new_event_loop()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            results = loop.run_until_complete(smtp.send_batch([envelope("a@example.org")]))
            loop.close()
            gc.collect()
    finally:
        sys.unraisablehook = previous_hook

    assert results[0].ok
    assert len(server.messages) == 1
    assert unraisable == []


async def test_empty_batch_does_not_connect(closed_port: int) -> None:
    assert await transport(closed_port).send_batch([]) == []


@pytest.mark.parametrize("host", ["smtp.example.org", "10.0.0.5", "2001:db8::1"])
def test_plain_smtp_to_a_non_local_host_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="STARTTLS"):
        SmtpTransport(host, 25, starttls=False, use_tls=False, timeout=5)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"])
def test_plain_smtp_to_a_local_host_is_allowed(host: str) -> None:
    SmtpTransport(host, 25, starttls=False, use_tls=False, timeout=5)


def test_non_local_host_with_tls_is_allowed() -> None:
    SmtpTransport("smtp.example.org", 587, starttls=True, use_tls=False, timeout=5)
    SmtpTransport("smtp.example.org", 465, starttls=False, use_tls=True, timeout=5)


def test_config_mistakes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not both"):
        SmtpTransport("smtp.example.org", 587, starttls=True, use_tls=True, timeout=5)
    with pytest.raises(ConfigError, match="FBH_SMTP_PASSWORD"):
        SmtpTransport("smtp.example.org", 587, starttls=True, use_tls=False, username="u")
    with pytest.raises(ConfigError, match="port"):
        SmtpTransport("localhost", 0, starttls=False, use_tls=False)


def test_repr_hides_the_password() -> None:
    smtp = SmtpTransport(
        "smtp.example.org", 587, starttls=True, use_tls=False, username="u", password="s3cret"
    )
    assert "s3cret" not in repr(smtp)


# ----- a batch over several connections at once ------------------------------------------------


async def test_a_batch_is_spread_over_its_connections_in_order(
    smtp_server: SmtpTestServer,
) -> None:
    batch = [envelope(f"person{i}@example.org") for i in range(10)]

    results = await transport(smtp_server.port, connections=4).send_batch(batch)

    assert [r.message_id for r in results] == [e.message_id for e in batch]
    assert all(r.ok for r in results)
    assert smtp_server.connections == 4  # shares of 3, 3, 3 and 1
    assert sorted(m.rcpt_tos for m in smtp_server.messages) == sorted(e.recipients for e in batch)


async def test_a_small_batch_opens_no_more_connections_than_messages(
    smtp_server: SmtpTestServer,
) -> None:
    batch = [envelope(f"person{i}@example.org") for i in range(2)]

    results = await transport(smtp_server.port, connections=4).send_batch(batch)

    assert all(r.ok for r in results)
    assert smtp_server.connections == 2


async def test_a_connection_that_fails_to_open_leaves_its_messages_to_the_others(
    smtp_server_factory: ServerFactory,
) -> None:
    server = smtp_server_factory(auth_exclude_mechanism=["LOGIN"])  # no second mechanism
    server.require_auth = True
    server.refuse_logins = 1  # one of the two logins of the batch is refused
    smtp = transport(server.port, username=server.username, password=server.password, connections=2)
    batch = [envelope(f"person{i}@example.org") for i in range(4)]

    results = await smtp.send_batch(batch)

    assert [r.ok for r in results] == [True] * 4
    assert sorted(m.rcpt_tos[0] for m in server.messages) == sorted(e.recipients[0] for e in batch)
    assert len({m.peer for m in server.messages}) == 1  # all over the connection that opened


async def test_a_slow_reply_holds_up_one_connection_not_a_share_of_the_batch(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.rcpt_delays["slow@example.org"] = 1.0  # a network delay, not a schedule
    batch = [envelope("slow@example.org")] + [envelope(f"p{i}@example.org") for i in range(5)]

    results = await transport(smtp_server.port, connections=2).send_batch(batch)

    assert all(r.ok for r in results)
    assert [r.message_id for r in results] == [e.message_id for e in batch]
    per_connection = Counter(m.peer for m in smtp_server.messages)
    assert sorted(per_connection.values()) == [1, 5]  # the other one took the rest


async def test_a_lost_connection_leaves_the_rest_of_the_batch_to_the_others(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.drop_in_data.add("dropped@example.org")
    batch = [envelope("dropped@example.org")] + [envelope(f"p{i}@example.org") for i in range(5)]

    results = await transport(smtp_server.port, connections=2).send_batch(batch)

    assert [r.ok for r in results] == [False] + [True] * 5
    assert results[0].attempted and results[0].error is not None
    assert not results[0].error.permanent
    assert len(smtp_server.messages) == 5


# ----- connections kept open for a session of batches -----------------------------------------


async def test_a_session_keeps_its_connections_from_batch_to_batch(
    smtp_server: SmtpTestServer,
) -> None:
    smtp = transport(smtp_server.port, connections=2)
    batches = [[envelope(f"p{b}-{i}@example.org") for i in range(4)] for b in range(3)]

    async with smtp.session():
        for batch in batches:
            assert all(r.ok for r in await smtp.send_batch(batch))
        assert smtp_server.quits == 0

    assert len(smtp_server.messages) == 12
    assert smtp_server.connections == 2
    assert smtp_server.quits == 2  # closed politely when the session ended


async def test_without_a_session_each_batch_opens_and_quits_its_own(
    smtp_server: SmtpTestServer,
) -> None:
    smtp = transport(smtp_server.port)
    for b in range(3):
        assert (await smtp.send_batch([envelope(f"p{b}@example.org")]))[0].ok

    assert smtp_server.connections == 3
    assert smtp_server.quits == 3


async def test_a_connection_the_server_closed_between_batches_is_replaced(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.close_after_data = True
    smtp = transport(smtp_server.port)

    async with smtp.session():
        assert (await smtp.send_batch([envelope("first@example.org")]))[0].ok
        for _ in range(int(TIMEOUT / 0.01)):  # until the client has read the server's close
            if not any(client.is_connected for client, _ in smtp._idle or ()):
                break
            await asyncio.sleep(0.01)
        results = await smtp.send_batch([envelope("second@example.org")])

    assert results[0].ok
    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ("first@example.org",),
        ("second@example.org",),
    ]
    assert smtp_server.connections == 2


async def test_a_connection_is_replaced_after_carrying_its_reuse_limit(
    smtp_server: SmtpTestServer,
) -> None:
    smtp = transport(smtp_server.port)
    smtp.reuse_limit = 3  # 100 by default
    batches = [[envelope(f"p{b}-{i}@example.org") for i in range(2)] for b in range(4)]

    async with smtp.session():
        for batch in batches:
            assert all(r.ok for r in await smtp.send_batch(batch))

    assert len(smtp_server.messages) == 8
    per_connection = Counter(m.peer for m in smtp_server.messages)
    assert sorted(per_connection.values()) == [2, 3, 3]
    assert smtp_server.quits == 3


async def test_a_lost_connection_is_not_kept_for_the_next_batch(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.drop_in_data.add("dropped@example.org")
    smtp = transport(smtp_server.port)

    async with smtp.session():
        first = await smtp.send_batch([envelope("dropped@example.org")])
        second = await smtp.send_batch([envelope("next@example.org")])

    assert not first[0].ok and second[0].ok
    assert smtp_server.connections == 2


async def test_a_cancelled_session_drops_its_connections(smtp_server: SmtpTestServer) -> None:
    smtp = transport(smtp_server.port, connections=2)

    async def pass_then_cancelled() -> None:
        async with smtp.session():
            await smtp.send_batch([envelope(f"p{i}@example.org") for i in range(2)])
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await pass_then_cancelled()

    assert smtp._idle is None
    assert smtp_server.quits == 0  # dropped at once, no QUIT exchange on the way out
    assert len(smtp_server.messages) == 2


async def test_when_no_connection_opens_the_batch_raises(closed_port: int) -> None:
    batch = [envelope(f"person{i}@example.org") for i in range(6)]

    with pytest.raises(TransportError) as caught:
        await transport(closed_port, connections=3).send_batch(batch)

    assert caught.value.permanent is False


def test_connections_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        SmtpTransport("127.0.0.1", 25, starttls=False, use_tls=False, connections=0)
