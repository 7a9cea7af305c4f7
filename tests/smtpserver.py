"""A real SMTP server for tests (aiosmtpd on 127.0.0.1), shared by the test folders.

:class:`SmtpTestServer` is the aiosmtpd handler: it records every received message and every
connection, and has knobs to refuse recipients, delay replies or drop the connection in DATA.
:func:`start_smtp_server` runs one in a thread; the ``smtp_server`` fixtures of
``tests/integration/conftest.py`` and the daemon's acceptance tests use it.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
USERNAME = "fbh"
PASSWORD = "hemmeligt-æøå"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    peer: Any
    login: str | None


@dataclass
class SmtpTestServer:
    """The aiosmtpd handler, plus where it listens. Set the knobs before sending."""

    host: str = HOST
    port: int = 0
    username: str = USERNAME
    password: str = PASSWORD
    messages: list[ReceivedMessage] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)
    auth_mechanisms: list[str] = field(default_factory=list)
    # knobs, keyed by lower-case recipient address
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    rcpt_delays: dict[str, float] = field(default_factory=dict)
    data_replies: dict[str, str] = field(default_factory=dict)
    drop_in_data: set[str] = field(default_factory=set)
    require_auth: bool = False
    refuse_logins: int = 0  # the next N logins are refused (535), whatever the password
    close_after_data: bool = False  # close each connection once a message is accepted
    quits: int = 0  # QUIT commands received
    closed: int = 0  # connections the server closed (close_after_data)

    @property
    def connections(self) -> int:
        """How many client connections ran a mail transaction."""
        return len(self.peers)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.auth_mechanisms.append(mechanism)
        if self.refuse_logins > 0:
            self.refuse_logins -= 1
            return AuthResult(success=False, handled=False)
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self.username.encode()
            and data.password == self.password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.peers.add(session.peer)
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        key = address.lower()
        if key in self.rcpt_delays:
            await asyncio.sleep(self.rcpt_delays[key])
        if key in self.rcpt_replies:
            return self.rcpt_replies[key]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.quits += 1
        return "221 Bye"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipients = [r.lower() for r in envelope.rcpt_tos]
        if any(r in self.drop_in_data for r in recipients):
            assert server.transport is not None
            server.transport.abort()
            return "451 4.3.0 never seen by the client"
        for rcpt in recipients:
            if rcpt in self.data_replies:
                return self.data_replies[rcpt]
        content = envelope.original_content or b""
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.messages.append(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=content,
                peer=session.peer,
                login=login,
            )
        )
        if self.close_after_data:  # after the reply below is written: like an idle timeout
            assert server.transport is not None
            asyncio.get_running_loop().call_soon(server.transport.close)
            self.closed += 1
        return "250 2.0.0 Ok: queued"


def start_smtp_server(**options: Any) -> tuple[SmtpTestServer, Controller]:
    """Start a server on a free port; keyword arguments go to the Controller/SMTP. Stop the
    returned controller when done."""
    server = SmtpTestServer(port=free_port())
    options.setdefault("auth_require_tls", False)
    controller = Controller(
        server,
        hostname=HOST,
        port=server.port,
        authenticator=server.authenticate,
        server_hostname="smtp.test",
        ready_timeout=10.0,
        **options,
    )
    controller.start()
    return server, controller
