"""Delivery into a local Maildir (the embedded default): one file per envelope in ``new/``.

Each message is written to ``tmp/`` and renamed into ``new/``, so a reader never sees a
half-written file. Files use Unix line endings, like any local delivery agent, and start with
``Return-Path`` and ``Delivered-To`` headers that keep the envelope. File names follow the
Maildir convention (``time.M<µs>P<pid>Q<n>.host``), as :mod:`mailbox` writes them.

Durability (``[mail] maildir_fsync``, on by default): a message counts as delivered, and its
outbox row is recorded ``sent``, only once it would survive a power cut. For a batch: each
file is written to ``tmp/``, ``fsync``-ed and renamed into ``new/``; when every file of the
batch is done, ``new/`` itself is ``fsync``-ed once, which makes the renames durable. A
message whose write or ``fsync`` fails is not renamed and fails alone; if the directory's
``fsync`` fails the whole batch fails (transient: it is written again, at-least-once, same
Message-ID). With ``maildir_fsync = false`` the files are only written and renamed; the
kernel writes them out later, and a crash of the machine (not of fbh) can lose messages
already recorded as sent. bench/maildir.py measures what the ``fsync``s cost.

Speed: a pool of threads writes the files of a batch at once, each thread one file's open,
write, ``fsync``, close and rename (system calls that release the GIL), so the waits for the
disk overlap, and so does the kernel's work of creating the files, which bench/maildir.py
measures alone (``create_per_message``). The files are opened and renamed relative to
``tmp/`` and ``new/``, opened once per batch.
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
from functools import partial
from pathlib import Path

from engine.domain.errors import TransportError
from notifications.transports.base import DeliveryResult, Envelope, Transport

__all__ = ["MaildirTransport"]

log = logging.getLogger(__name__)

# Files in flight at once (so also open descriptors): a batch of the daemon's default size
# is written all at once, and the fsyncs of as many files overlap.
_THREADS = 20
_counter = itertools.count()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class MaildirTransport(Transport):
    """Deliver into the Maildir at ``path`` (created with ``tmp/``, ``new/``, ``cur/`` if
    missing). A Maildir that cannot be opened raises :class:`TransportError` for the whole
    batch; a failed write fails only its envelope. Both are transient (disk full,
    permissions can be fixed)."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._pool: ThreadPoolExecutor | None = None
        self._host = _host()

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
            tmp, new = self._open()
        except OSError as exc:
            raise TransportError(f"cannot open Maildir {self.path}: {exc}") from exc
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="maildir")
            deliver = partial(self._deliver, tmp, new)
            outcomes = list(self._pool.map(deliver, envelopes))
            if self.fsync and not all(isinstance(o, OSError) for o in outcomes):
                try:
                    os.fsync(new)  # makes the renames of the batch durable
                except OSError as exc:
                    raise TransportError(f"cannot sync Maildir {self.path}/new: {exc}") from exc
        finally:
            os.close(tmp)
            os.close(new)
        return [self._result(e, o) for e, o in zip(envelopes, outcomes, strict=True)]

    def _open(self) -> tuple[int, int]:
        """The Maildir's ``tmp/`` and ``new/``, opened (made first if missing): opened anew for
        each batch, so a Maildir moved or made again while fbh runs is the one written to."""
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = os.open(self.path / "tmp", _DIRECTORY)
        try:
            return tmp, os.open(self.path / "new", _DIRECTORY)
        except OSError:
            os.close(tmp)
            raise

    def _deliver(self, tmp: int, new: int, envelope: Envelope) -> str | OSError:
        """One message: written to ``tmp/``, synced, renamed into ``new/`` (in a pool thread).
        Its file name, or the error, after which nothing of it is left in ``tmp/``."""
        name = self._unique_name()
        try:
            fd = os.open(name, _CREATE, 0o600, dir_fd=tmp)
        except OSError as exc:
            return exc
        try:
            try:
                data = memoryview(_with_envelope_headers(envelope))
                while data:
                    data = data[os.write(fd, data) :]
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(name, name, src_dir_fd=tmp, dst_dir_fd=new)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=tmp)
            return exc
        return name

    def _result(self, envelope: Envelope, outcome: str | OSError) -> DeliveryResult:
        if isinstance(outcome, OSError):
            log.warning("Maildir delivery of %s failed: %s", envelope.message_id, outcome)
            error = TransportError(f"cannot write {envelope.message_id} to {self.path}: {outcome}")
            error.__cause__ = outcome
            return DeliveryResult(envelope.message_id, error)
        log.debug("delivered %s to Maildir %s as %s", envelope.message_id, self.path, outcome)
        return DeliveryResult(envelope.message_id, None)

    def _unique_name(self) -> str:
        seconds, micro = divmod(time.time_ns() // 1000, 1_000_000)
        return f"{seconds}.M{micro}P{os.getpid()}Q{next(_counter)}.{self._host}"


def _host() -> str:
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072")


def _with_envelope_headers(envelope: Envelope) -> bytes:
    lines = [f"Return-Path: <{_safe(envelope.sender)}>"]
    lines += [f"Delivered-To: {_safe(rcpt)}" for rcpt in envelope.recipients]
    head = "\n".join(lines).encode("utf-8") + b"\n"
    return head + envelope.data.replace(b"\r\n", b"\n")


def _safe(address: str) -> str:
    return "".join(c for c in address if c.isprintable() and not c.isspace())
