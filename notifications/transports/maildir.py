"""Delivery into a local Maildir (the embedded default): one file per envelope in ``new/``.

Each message is written to ``tmp/`` and renamed into ``new/``, so a reader never sees a
half-written file. Files use Unix line endings, like any local delivery agent, and start with
``Return-Path`` and ``Delivered-To`` headers that keep the envelope. File names follow the
Maildir convention (``time.M<µs>P<pid>Q<n>.host``), as :mod:`mailbox` writes them.

Durability (``[mail] maildir_fsync``, on by default): a message counts as delivered, and its
outbox row is recorded ``sent``, only once it would survive a power cut. For a batch: every
file is written to ``tmp/``; the files are ``fsync``-ed (several at once: the file system
commits them together); each is renamed into ``new/``; then ``new/`` itself is ``fsync``-ed
once, which makes the renames durable. A message whose write or ``fsync`` fails is not
renamed and fails alone; if the directory's ``fsync`` fails the whole batch fails (transient:
it is written again, at-least-once, same Message-ID). With ``maildir_fsync = false`` the
files are only written and renamed; the kernel writes them out later, and a crash of the
machine (not of fbh) can lose messages already recorded as sent. bench/maildir.py measures
what the ``fsync``s cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.domain.errors import TransportError
from notifications.transports.base import DeliveryResult, Envelope, Transport

__all__ = ["MaildirTransport"]

log = logging.getLogger(__name__)

_SYNC_THREADS = 20  # fsyncs in flight at once: the file system commits them together
_OPEN_FILES = 64  # messages written (and open) at once before they are synced and renamed
_counter = itertools.count()


class MaildirTransport(Transport):
    """Deliver into the Maildir at ``path`` (created with ``tmp/``, ``new/``, ``cur/`` if
    missing). A Maildir that cannot be opened raises :class:`TransportError` for the whole
    batch; a failed write fails only its envelope. Both are transient (disk full,
    permissions can be fixed)."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._pool: ThreadPoolExecutor | None = None

    async def send_batch(self, envelopes: Sequence[Envelope]) -> list[DeliveryResult]:
        return await asyncio.to_thread(self._deliver_all, list(envelopes))

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def _deliver_all(self, envelopes: list[Envelope]) -> list[DeliveryResult]:
        if not envelopes:
            return []
        try:
            self._open()
        except OSError as exc:
            raise TransportError(f"cannot open Maildir {self.path}: {exc}") from exc
        results: list[DeliveryResult] = []
        for start in range(0, len(envelopes), _OPEN_FILES):  # bounded open descriptors
            part = envelopes[start : start + _OPEN_FILES]
            written = [self._write(envelope) for envelope in part]
            if self.fsync:
                written = self._sync(written)
            results += [self._publish(e, found) for e, found in zip(part, written, strict=True)]
        if self.fsync and any(result.ok for result in results):
            try:
                _sync_directory(self.path / "new")
            except OSError as exc:
                raise TransportError(f"cannot sync Maildir {self.path}/new: {exc}") from exc
        return results

    def _open(self) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)

    def _write(self, envelope: Envelope) -> tuple[str, int] | OSError:
        """Write one message to ``tmp/``; its name and open descriptor, or the error."""
        name = _unique_name()
        try:
            fd = os.open(self.path / "tmp" / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            return exc
        try:
            data = memoryview(_with_envelope_headers(envelope))
            while data:
                data = data[os.write(fd, data) :]
        except OSError as exc:
            self._discard(name, fd)
            return exc
        return name, fd

    def _sync(self, written: list[tuple[str, int] | OSError]) -> list[tuple[str, int] | OSError]:
        """``fsync`` the written files, several at once."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="maildir-fsync")
        fds = [found[1] for found in written if not isinstance(found, OSError)]
        errors = dict(zip(fds, self._pool.map(_fsync_error, fds), strict=True))
        synced: list[tuple[str, int] | OSError] = []
        for found in written:
            error = None if isinstance(found, OSError) else errors[found[1]]
            if error is not None and not isinstance(found, OSError):
                self._discard(*found)
                found = error
            synced.append(found)
        return synced

    def _publish(self, envelope: Envelope, found: tuple[str, int] | OSError) -> DeliveryResult:
        """Close the file and rename it into ``new/``; the result for its envelope."""
        if not isinstance(found, OSError):
            name, fd = found
            try:
                os.close(fd)
                os.rename(self.path / "tmp" / name, self.path / "new" / name)
            except OSError as exc:
                self._discard(name, None)
                found = exc
        if isinstance(found, OSError):
            log.warning("Maildir delivery of %s failed: %s", envelope.message_id, found)
            error = TransportError(f"cannot write {envelope.message_id} to {self.path}: {found}")
            error.__cause__ = found
            return DeliveryResult(envelope.message_id, error)
        log.info("delivered %s to Maildir %s as %s", envelope.message_id, self.path, found[0])
        return DeliveryResult(envelope.message_id, None)

    def _discard(self, name: str, fd: int | None) -> None:
        """Close and remove a file of ``tmp/`` that is not delivered."""
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self.path / "tmp" / name)


def _unique_name() -> str:
    now = time.time()
    seconds = int(now)
    micro = int((now - seconds) * 1_000_000)
    host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
    return f"{seconds}.M{micro}P{os.getpid()}Q{next(_counter)}.{host}"


def _fsync_error(fd: int) -> OSError | None:
    try:
        os.fsync(fd)
    except OSError as exc:
        return exc
    return None


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _with_envelope_headers(envelope: Envelope) -> bytes:
    lines = [f"Return-Path: <{_safe(envelope.sender)}>"]
    lines += [f"Delivered-To: {_safe(rcpt)}" for rcpt in envelope.recipients]
    head = "\n".join(lines).encode("utf-8") + b"\n"
    return head + envelope.data.replace(b"\r\n", b"\n")


def _safe(address: str) -> str:
    return "".join(c for c in address if c.isprintable() and not c.isspace())
