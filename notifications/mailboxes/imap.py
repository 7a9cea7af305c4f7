"""An IMAP inbox (``[inbox] transport = "imap"``), read with imapclient.

* TLS always: implicit TLS (IMAPS, port 993) or STARTTLS; a plain connection is refused unless
  the host is the loopback interface (tests). The password comes from ``FBH_IMAP_PASSWORD``.
* Messages are read with ``BODY.PEEK[]`` (no \\Seen as a side effect), after their
  ``RFC822.SIZE`` says they are within the limit.
* Marks are keywords on the message: ``$FbhProcessed``; a message set aside also gets
  ``$FbhSetAside`` and ``\\Flagged``. Nothing is moved or deleted.
* ``wait`` uses IDLE when the server offers it (RFC 2177), and tells the caller to poll
  otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from notifications.mailboxes.base import Mailbox, MailboxError, RawMessage

__all__ = ["PROCESSED", "SET_ASIDE", "ImapMailbox"]

log = logging.getLogger(__name__)

PROCESSED = b"$FbhProcessed"
SET_ASIDE = b"$FbhSetAside"
IDLE_RENEW_SECONDS = 25 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes
_T = TypeVar("_T")


class ImapMailbox(Mailbox):
    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str,
        password: str,
        folder: str = "INBOX",
        tls: bool = True,
        starttls: bool = False,
        cafile: str | None = None,
        validate_certs: bool = True,
        timeout: float = 30.0,
    ) -> None:
        if not tls and not starttls and host not in ("127.0.0.1", "::1", "localhost"):
            raise MailboxError(f"IMAP to {host} needs tls or starttls")
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.folder = folder
        self.tls, self.starttls = tls, starttls
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=cafile)
        if not validate_certs:
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        self._client: IMAPClient | None = None
        self._validity = 0

    # ----- connection ----------------------------------------------------------------------

    def _connect(self) -> IMAPClient:
        if self._client is not None:
            return self._client
        where = f"IMAP server {self.host}:{self.port}"
        client: IMAPClient | None = None
        try:
            client = IMAPClient(
                self.host, self.port, ssl=self.tls, ssl_context=self.context, timeout=self.timeout
            )
            if self.starttls and not self.tls:
                client.starttls(self.context)
            client.login(self.username, self.password)
            client.normalise_times = False  # aware INTERNALDATEs
            selected = client.select_folder(self.folder)
        except (OSError, IMAPClientError, ssl.SSLError) as exc:
            if client is not None:
                with contextlib.suppress(OSError):
                    client.shutdown()
            raise MailboxError(f"{where}: {_reason(exc)}") from exc
        self._validity = int(selected.get(b"UIDVALIDITY", 0))
        self._client = client
        return client

    def _call(self, what: str, action: Callable[[IMAPClient], _T]) -> _T:
        client = self._connect()
        try:
            return action(client)
        except (OSError, IMAPClientError, ssl.SSLError) as exc:
            self.close()
            raise MailboxError(f"IMAP {what} failed: {_reason(exc)}") from exc

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (OSError, IMAPClientError, ssl.SSLError):
            with contextlib.suppress(OSError):
                client.shutdown()

    # ----- reading and marking ---------------------------------------------------------------

    def pending(self, limit: int) -> list[str]:
        uids = self._call("SEARCH", lambda c: c.search(["UNKEYWORD", PROCESSED.decode()]))
        return [f"{self._validity}:{uid}" for uid in sorted(uids)[:limit]]

    def fetch(self, key: str, max_bytes: int) -> RawMessage | None:
        uid = self._uid(key)
        if uid is None:
            return None
        meta = self._call("FETCH", lambda c: c.fetch([uid], ["RFC822.SIZE", "INTERNALDATE"]))
        if uid not in meta:
            return None
        size = int(meta[uid].get(b"RFC822.SIZE", 0))
        received = _aware(meta[uid].get(b"INTERNALDATE"))
        if size > max_bytes:
            return RawMessage(key=key, data=b"", size=size, received=received)
        body = self._call("FETCH", lambda c: c.fetch([uid], ["BODY.PEEK[]"]))
        data = body.get(uid, {}).get(b"BODY[]", b"")
        return RawMessage(key=key, data=bytes(data or b""), size=size, received=received)

    def mark_processed(self, key: str) -> None:
        self._flag(key, [PROCESSED, b"\\Seen"])

    def set_aside(self, key: str) -> None:
        self._flag(key, [PROCESSED, SET_ASIDE, b"\\Flagged"])

    def _flag(self, key: str, flags: list[bytes]) -> None:
        uid = self._uid(key)
        if uid is not None:
            self._call("STORE", lambda c: c.add_flags([uid], flags, silent=True))

    def _uid(self, key: str) -> int | None:
        validity, _, uid = key.partition(":")
        self._connect()
        if not uid.isdigit() or int(validity or 0) != self._validity:
            return None  # the folder was recreated: the next SEARCH gives the new UIDs
        return int(uid)

    # ----- waiting for new mail --------------------------------------------------------------

    @property
    def can_wait(self) -> bool:
        return bool(self._call("CAPABILITY", lambda c: c.has_capability("IDLE")))

    def wait(self, timeout: float) -> bool:
        if not self.can_wait:
            return False

        def idle(client: IMAPClient) -> bool:
            client.idle()
            try:
                responses = client.idle_check(timeout=min(timeout, IDLE_RENEW_SECONDS))
            finally:
                client.idle_done()
            return bool(responses)

        return self._call("IDLE", idle)


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__
