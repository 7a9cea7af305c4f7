"""SMTP delivery with aiosmtplib (the only module that imports it).

A batch is spread over ``connections`` connections at once (``mail.smtp.connections``), each
taking the batch's next message when it is free. Inside :meth:`SmtpTransport.session` (a
delivery pass of the daemon, a drain of ``fbh outbox send``) the connections stay open from
one batch to the next and are closed with QUIT when the session ends; one the server closed
meanwhile is replaced, one lost or timed out is never reused, one that has carried
``REUSE_LIMIT`` messages is replaced. Outside a session each batch opens and closes its own.
Replies are translated into
:class:`~engine.domain.errors.TransportError` (``from`` the aiosmtplib/OS exception): 5xx
replies are permanent, 4xx replies and connection problems transient. See
:mod:`notifications.transports.base` for when ``send_batch`` raises and when it reports.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from engine.domain.errors import (
    ConfigError,
    MailServerUnavailableError,
    SmtpAuthenticationError,
    TransportError,
)
from engine.domain.i18n import _
from notifications.transports.base import DeliveryResult, Envelope, Transport

# aiosmtplib (and the email and ssl modules it pulls in) is imported where a connection is
# opened or used, not with this module: `fbh serve` on a Maildir never loads it
# (tests/acceptance/test_serve_lean_imports.py).
if TYPE_CHECKING:
    import aiosmtplib
    from aiosmtplib import SMTPRecipientRefused, SMTPRecipientsRefused, SMTPResponse

__all__ = ["SmtpTransport", "is_local_host"]

log = logging.getLogger(__name__)

_LOCAL_NAMES = frozenset({"localhost", "localhost.", "localhost.localdomain"})
# How many messages one connection carries before it is closed and a new one opened, also
# inside a session: a bound for servers that limit the messages of one SMTP session.
REUSE_LIMIT = 100


def is_local_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


class SmtpTransport(Transport):
    """Send over SMTP: STARTTLS (``starttls``) or implicit TLS (``use_tls``), AUTH when a
    ``username`` is given. Plain SMTP is allowed only to a local host.

    ``cert_bundle`` is an optional CA file for servers with a private certificate authority.
    ``connections`` is how many connections a batch is spread over, at once: each message
    costs several round trips to the server, so one connection at a time leaves the daemon
    waiting on the network.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool,
        use_tls: bool,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        validate_certs: bool = True,
        cert_bundle: str | None = None,
        connections: int = 1,
    ) -> None:
        _check_config(host, port, starttls, use_tls, username, password, timeout)
        if not validate_certs and not is_local_host(host):
            log.warning("TLS certificates of SMTP server %s are not validated", host)
        self.host = host
        self.port = port
        self.starttls = starttls
        self.use_tls = use_tls
        self.username = username
        self._password = password
        self.timeout = timeout
        if connections < 1:
            raise ConfigError(
                _("mail.smtp.connections must be at least 1, got {n}").format(n=connections)
            )
        self.local_hostname = local_hostname
        self.connections = connections
        # The EHLO name aiosmtplib found (socket.getfqdn, in a thread: a DNS lookup on some
        # hosts) on the first connection, reused for the next batches.
        self._ehlo_name = local_hostname
        self.validate_certs = validate_certs
        self.cert_bundle = cert_bundle
        # Inside session(): the open connections not sending right now, with how many
        # messages each has carried.
        self._idle: list[tuple[aiosmtplib.SMTP, int]] | None = None
        self.reuse_limit = REUSE_LIMIT

    def __repr__(self) -> str:
        tls = "tls" if self.use_tls else "starttls" if self.starttls else "plain"
        return f"SmtpTransport({self.host}:{self.port}, {tls}, user={self.username!r})"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Keep connections open between the batches sent inside the block; QUIT them at the
        end (dropped without QUIT when the block ends by cancellation or an error). Connection
        set-up (TCP, greeting, EHLO, TLS, AUTH) is then paid once per connection per session
        instead of once per batch. A nested session shares the outer one's connections."""
        if self._idle is not None:
            yield
            return
        self._idle = []
        try:
            yield
        except BaseException:
            idle, self._idle = self._idle, None
            for client, _ in idle:
                _drop(client)
            raise
        idle, self._idle = self._idle, None
        for client, _ in idle:
            await _quit(client)

    async def send_batch(self, envelopes: Sequence[Envelope]) -> list[DeliveryResult]:
        """Send the batch over up to ``connections`` connections at once, each taking the next
        envelope from the batch when it is free (a slow reply holds up one connection, not a
        share of the batch). A connection that cannot be opened, or is lost, leaves the
        envelopes it has not taken to the others; when every connection has failed, the
        envelopes left are reported as not tried (``attempted=False``), and if none was tried
        at all, the first connection's TransportError is raised for the whole batch."""
        if not envelopes:
            return []
        batch = _Batch(envelopes)
        lanes = min(self.connections, len(envelopes))
        done = await asyncio.gather(
            *(self._lane(batch) for _ in range(lanes)), return_exceptions=True
        )
        for outcome in done:
            if isinstance(outcome, BaseException) and not isinstance(outcome, TransportError):
                raise outcome
        refused = [outcome for outcome in done if isinstance(outcome, TransportError)]
        if len(refused) == lanes and not batch.tried():
            raise refused[0]  # no connection opened: nothing was tried
        return batch.results(refused[0] if refused else None)

    async def _lane(self, batch: _Batch) -> None:
        """One connection taking envelopes from ``batch`` until none is left or it is lost."""
        from aiosmtplib import SMTPException

        client, carried = await self._connection()
        lost = False
        try:
            while carried < self.reuse_limit and (taken := batch.take()) is not None:
                index, envelope = taken
                carried += 1
                try:
                    batch.done(index, await self._send_one(client, envelope))
                except (OSError, SMTPException) as exc:  # disconnect or timeout mid-batch
                    batch.lose(index, self._lost(envelope, exc))
                    lost = True
                    break
        except BaseException:  # cancelled or a bug: drop the connection without QUIT
            _drop(client)
            raise
        if lost or carried >= self.reuse_limit or self._idle is None or not client.is_connected:
            await _quit(client)  # a connection in an unknown state is never reused
        else:
            self._idle.append((client, carried))
        if carried >= self.reuse_limit and not lost and batch.left():
            await self._lane(batch)  # the rest over a new connection

    async def _connection(self) -> tuple[aiosmtplib.SMTP, int]:
        """An idle connection of the session that is still open, with how many messages it
        has carried, else a new one."""
        while self._idle:
            client, carried = self._idle.pop()
            if client.is_connected:
                return client, carried
            _drop(client)  # the server closed it since the last batch (e.g. its idle timeout)
        return await self._open(), 0

    async def _open(self) -> aiosmtplib.SMTP:
        """Connect, negotiate TLS and log in; raise TransportError for the whole batch."""
        import aiosmtplib
        from aiosmtplib import SMTPAuthenticationError, SMTPException, SMTPResponseException

        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.use_tls,
            start_tls=self.starttls,
            validate_certs=self.validate_certs,
            cert_bundle=self.cert_bundle,
            local_hostname=self._ehlo_name,
            timeout=self.timeout,
        )
        try:
            await client.connect()
            if self.username is not None:
                await client.login(self.username, self._password or "")
        except SMTPAuthenticationError as exc:
            _drop(client)
            reply = _reply(exc.code, exc.message)
            if exc.code >= 500:  # 535 and the like: the credentials, not the moment
                raise SmtpAuthenticationError(
                    f"SMTP server {self.where} rejected the login of {self.username!r}: {reply}",
                    code=exc.code,
                ) from exc
            raise TransportError(
                f"SMTP server {self.where} refused the login for now: {reply}", code=exc.code
            ) from exc
        except SMTPResponseException as exc:
            _drop(client)
            raise TransportError(
                f"SMTP server {self.where} refused the session: {_reply(exc.code, exc.message)}",
                permanent=exc.code >= 500,
                code=exc.code,
            ) from exc
        except (OSError, SMTPException) as exc:
            _drop(client)
            raise MailServerUnavailableError(
                f"cannot connect to SMTP server {self.where}: {exc}"
            ) from exc
        log.debug("connected to SMTP server %s", self.where)
        self._ehlo_name = self._ehlo_name or client.local_hostname
        return client

    async def _send_one(self, client: aiosmtplib.SMTP, envelope: Envelope) -> DeliveryResult:
        """Run one mail transaction; connection errors propagate to the caller."""
        from aiosmtplib import SMTPNotSupported, SMTPRecipientsRefused, SMTPResponseException

        if not envelope.recipients:
            return _failed(envelope, TransportError("envelope has no recipients", permanent=True))
        try:
            refused, reply = await client.sendmail(
                envelope.sender, list(envelope.recipients), envelope.data
            )
        except SMTPRecipientsRefused as exc:
            return _failed(envelope, _all_refused(exc), exc)
        except SMTPResponseException as exc:
            error = TransportError(
                f"SMTP server {self.where} refused {envelope.message_id}: "
                f"{_reply(exc.code, exc.message)}",
                permanent=exc.code >= 500,
                code=exc.code,
            )
            return _failed(envelope, error, exc)
        except (SMTPNotSupported, ValueError) as exc:
            error = TransportError(f"cannot send {envelope.message_id}: {exc}", permanent=True)
            return _failed(envelope, error, exc)
        log.debug("SMTP %s accepted %s: %s", self.where, envelope.message_id, reply)
        return DeliveryResult(envelope.message_id, None, _partially_refused(refused))

    def _lost(self, envelope: Envelope, exc: BaseException) -> DeliveryResult:
        """The envelope in flight failed (it may have arrived); the connection is gone."""
        log.warning("SMTP connection to %s lost: %s", self.where, exc)
        return _failed(
            envelope, TransportError(f"SMTP connection to {self.where} lost: {exc}"), exc
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class _Batch:
    """The envelopes of one ``send_batch``, taken in order by its connections, and their
    results in the same order."""

    def __init__(self, envelopes: Sequence[Envelope]) -> None:
        self._envelopes = envelopes
        self._next = 0
        self._results: list[DeliveryResult | None] = [None] * len(envelopes)
        self._loss: TransportError | None = None  # why the first lost connection was lost

    def left(self) -> bool:
        return self._next < len(self._envelopes)

    def tried(self) -> bool:
        return self._next > 0

    def take(self) -> tuple[int, Envelope] | None:
        if self._next >= len(self._envelopes):
            return None
        index = self._next
        self._next += 1
        return index, self._envelopes[index]

    def done(self, index: int, result: DeliveryResult) -> None:
        self._results[index] = result

    def lose(self, index: int, result: DeliveryResult) -> None:
        self._results[index] = result
        self._loss = self._loss or result.error

    def results(self, refused: TransportError | None) -> list[DeliveryResult]:
        """Every result; envelopes no connection took (all of them failed) are not tried."""
        results = []
        for envelope, result in zip(self._envelopes, self._results, strict=True):
            if result is None:
                result = self._untried(envelope, refused)
            results.append(result)
        return results

    def _untried(self, envelope: Envelope, refused: TransportError | None) -> DeliveryResult:
        if self._loss is not None:
            error = TransportError(f"not tried: {self._loss}")
            error.__cause__ = self._loss.__cause__
            return DeliveryResult(envelope.message_id, error, attempted=False)
        assert refused is not None
        return _untried(envelope, refused)


def _check_config(
    host: str,
    port: int,
    starttls: bool,
    use_tls: bool,
    username: str | None,
    password: str | None,
    timeout: float,
) -> None:
    if not host.strip():
        raise ConfigError(_("mail.smtp.host is empty"))
    if not 0 < port < 65536:
        raise ConfigError(_("mail.smtp.port {port} is not a TCP port").format(port=port))
    if timeout <= 0:
        raise ConfigError(_("SMTP timeout must be positive, got {timeout}").format(timeout=timeout))
    if starttls and use_tls:
        raise ConfigError(
            _("choose either STARTTLS (port 587) or implicit TLS (port 465), not both")
        )
    if not (starttls or use_tls) and not is_local_host(host):
        raise ConfigError(
            _(
                "refusing plain SMTP to {host}: mail to a non-local server must use STARTTLS "
                "(mail.smtp.starttls = true) or implicit TLS"
            ).format(host=host)
        )
    if username is not None and password is None:
        raise ConfigError(
            _("SMTP user {user!r} needs a password (set FBH_SMTP_PASSWORD)").format(user=username)
        )
    if password is not None and username is None:
        raise ConfigError(_("an SMTP password is set but mail.smtp.username is missing"))


async def _quit(client: aiosmtplib.SMTP) -> None:
    from aiosmtplib import SMTPException

    transport = client.transport
    if client.is_connected:
        try:
            await client.quit()
        except (OSError, SMTPException) as exc:
            log.debug("SMTP QUIT failed: %s", exc)
    _drop(client, transport)


def _drop(client: aiosmtplib.SMTP, transport: asyncio.BaseTransport | None = None) -> None:
    """Close the socket at once instead of after a TLS close_notify exchange.

    ``SMTP.close()`` on a TLS connection starts a graceful shutdown that waits for the server;
    an event loop that ends first (``asyncio.run`` in the CLI) would leak the socket. After QUIT
    or an error there is nothing left to say, so the transport is aborted.
    """
    transport = transport or client.transport
    client.close()
    if isinstance(transport, asyncio.Transport):
        transport.abort()


def _untried(envelope: Envelope, error: TransportError) -> DeliveryResult:
    """A result for an envelope whose connection could not be opened: nothing was sent."""
    untried = TransportError(f"not tried: {error}", permanent=False, code=error.code)
    untried.__cause__ = error
    return DeliveryResult(envelope.message_id, untried, attempted=False)


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"


def _failed(
    envelope: Envelope, error: TransportError, cause: BaseException | None = None
) -> DeliveryResult:
    error.__cause__ = cause
    if error.permanent:
        log.warning("message %s failed permanently: %s", envelope.message_id, error)
    else:
        log.info("message %s failed, will be retried: %s", envelope.message_id, error)
    return DeliveryResult(envelope.message_id, error)


def _recipient_error(recipient: str, code: int, message: str) -> TransportError:
    return TransportError(
        f"recipient {recipient} refused: {_reply(code, message)}",
        permanent=code >= 500,
        code=code,
    )


def _all_refused(exc: SMTPRecipientsRefused) -> TransportError:
    """Every recipient was refused: permanent only if every refusal was a 5xx."""
    refusals: list[SMTPRecipientRefused] = list(exc.recipients)
    errors = [_recipient_error(r.recipient, r.code, r.message) for r in refusals]
    permanent = all(error.permanent for error in errors)
    code = next((e.code for e in errors if e.permanent == permanent), None)
    return TransportError("; ".join(str(e) for e in errors), permanent=permanent, code=code)


def _partially_refused(
    refused: dict[str, SMTPResponse],
) -> tuple[tuple[str, TransportError], ...]:
    rejected = tuple(
        (rcpt, _recipient_error(rcpt, response.code, response.message))
        for rcpt, response in refused.items()
    )
    for rcpt, error in rejected:
        log.warning("SMTP refused recipient %s (others accepted): %s", rcpt, error)
    return rejected
