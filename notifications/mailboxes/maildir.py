"""A local Maildir inbox (the embedded default, ``[inbox] maildir``).

Unread mail is in ``new/``. Processing moves a file to ``cur/`` with the Maildir info
``:2,S`` (seen); setting it aside moves it with ``:2,FS`` (flagged), so it is kept and a mail
client shows it flagged. ``rename`` within one file system is atomic: a message is in exactly
one of the two places.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from notifications.mailboxes.base import Mailbox, MailboxError, RawMessage

__all__ = ["MaildirMailbox"]

PROCESSED_INFO = ":2,S"
SET_ASIDE_INFO = ":2,FS"


class MaildirMailbox(Mailbox):
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _dirs(self) -> tuple[Path, Path]:
        new, cur = self.path / "new", self.path / "cur"
        try:
            for folder in (self.path / "tmp", new, cur):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MailboxError(f"cannot open Maildir {self.path}: {exc.strerror}") from exc
        return new, cur

    def pending(self, limit: int) -> list[str]:
        new, _cur = self._dirs()
        try:
            entries = [e for e in os.scandir(new) if e.is_file() and not e.name.startswith(".")]
        except OSError as exc:
            raise MailboxError(f"cannot list {new}: {exc.strerror}") from exc
        entries.sort(key=lambda e: (e.stat().st_mtime, e.name))
        return [e.name for e in entries[:limit]]

    def fetch(self, key: str, max_bytes: int) -> RawMessage | None:
        new, _cur = self._dirs()
        path = new / _plain(key)
        try:
            stat = path.stat()
            data = b"" if stat.st_size > max_bytes else path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MailboxError(f"cannot read {path}: {exc.strerror}") from exc
        received = datetime.fromtimestamp(stat.st_mtime, UTC)
        return RawMessage(key=key, data=data, size=stat.st_size, received=received)

    def mark_processed(self, key: str) -> None:
        self._move(key, PROCESSED_INFO)

    def set_aside(self, key: str) -> None:
        self._move(key, SET_ASIDE_INFO)

    def _move(self, key: str, info: str) -> None:
        new, cur = self._dirs()
        name = _plain(key)
        try:
            os.rename(new / name, cur / (name.split(":", 1)[0] + info))
        except FileNotFoundError:
            return  # moved already (by an earlier pass that crashed before committing)
        except OSError as exc:
            raise MailboxError(f"cannot move {name} to {cur}: {exc.strerror}") from exc


def _plain(key: str) -> str:
    if "/" in key or key in ("", ".", ".."):
        raise MailboxError(f"invalid Maildir key {key!r}")
    return key
