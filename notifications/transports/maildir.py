"""Delivery into a local Maildir (the embedded default): one file per envelope in ``new/``.

:class:`mailbox.Maildir` writes each message to ``tmp/`` and renames it into ``new/``, so a
reader never sees a half-written file. Files use Unix line endings, like any local delivery
agent, and start with ``Return-Path`` and ``Delivered-To`` headers that keep the envelope.
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import os
from collections.abc import Sequence
from pathlib import Path

from engine.domain.errors import TransportError
from notifications.transports.base import DeliveryResult, Envelope, Transport

__all__ = ["MaildirTransport"]

log = logging.getLogger(__name__)


class MaildirTransport(Transport):
    """Deliver into the Maildir at ``path`` (created with ``tmp/``, ``new/``, ``cur/`` if
    missing). A Maildir that cannot be opened raises :class:`TransportError` for the whole
    batch; a failed write fails only its envelope. Both are transient (disk full,
    permissions can be fixed)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    async def send_batch(self, envelopes: Sequence[Envelope]) -> list[DeliveryResult]:
        return await asyncio.to_thread(self._deliver_all, list(envelopes))

    def _deliver_all(self, envelopes: list[Envelope]) -> list[DeliveryResult]:
        try:
            box = self._open()
        except OSError as exc:
            raise TransportError(f"cannot open Maildir {self.path}: {exc}") from exc
        return [self._deliver(box, envelope) for envelope in envelopes]

    def _open(self) -> mailbox.Maildir:
        # mailbox.Maildir(create=True) only creates the subfolders when the folder itself is
        # missing; an existing empty folder (e.g. a fresh volume) needs them too.
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        return mailbox.Maildir(self.path, factory=None, create=False)

    def _deliver(self, box: mailbox.Maildir, envelope: Envelope) -> DeliveryResult:
        try:
            key = box.add(_with_envelope_headers(envelope))
        except OSError as exc:
            log.warning("Maildir delivery of %s failed: %s", envelope.message_id, exc)
            error = TransportError(f"cannot write {envelope.message_id} to {self.path}: {exc}")
            error.__cause__ = exc
            return DeliveryResult(envelope.message_id, error)
        log.info("delivered %s to Maildir %s as %s", envelope.message_id, self.path, key)
        return DeliveryResult(envelope.message_id, None)


def _with_envelope_headers(envelope: Envelope) -> bytes:
    lines = [f"Return-Path: <{_safe(envelope.sender)}>"]
    lines += [f"Delivered-To: {_safe(rcpt)}" for rcpt in envelope.recipients]
    head = "\n".join(lines).encode("utf-8") + b"\n"
    return head + envelope.data.replace(b"\r\n", b"\n")


def _safe(address: str) -> str:
    return "".join(c for c in address if c.isprintable() and not c.isspace())
