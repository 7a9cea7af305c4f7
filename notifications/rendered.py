"""Stored rendered bytes (render ahead): what makes them current, and the ``Date`` at send.

A row's bytes (``outbox.rendered``) are sent only while their fingerprint
(``outbox.rendered_with``) is :func:`fingerprint`: a hash of fbh's version, every file of
``notifications/templates/``, the modules that turn a payload into bytes, and the sender
(``[mail] sender``). An upgrade, an edited template or a new sender makes the bytes stale, and
the row is rendered at send as if it had none.

The ``Date`` header is the time of sending, as when a row is rendered at send: the stored
bytes keep the header of their rendering and :func:`with_date` replaces its value, which costs
a search in the header block and one copy of the bytes. So a message sent from stored bytes
is byte for byte the message rendering it at that moment gives (tests/unit/test_prerender.py).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from engine.config.settings import Settings
from engine.domain.model import Contact

__all__ = ["fingerprint", "sender_of", "with_date"]

_HERE = Path(__file__).resolve().parent
# What turns a payload into bytes besides the templates: every module of this package (one
# that renders nothing costs at most one re-render after an upgrade) and the codec of the
# digests' packed context.
_PACKED = ("engine", "domain", "packed.py")
_DATE = b"\r\nDate: "
_END_OF_HEAD = b"\r\n\r\n"


def _code_files() -> list[Path]:
    return [*sorted(_HERE.glob("*.py")), _HERE.parent.joinpath(*_PACKED)]


def fingerprint(settings: Settings) -> str:
    """The fingerprint of bytes rendered now with ``settings`` (64 hex digits)."""
    return _fingerprint(_code_hash(), settings.mail.sender)


def sender_of(settings: Settings) -> Contact:
    """``settings.sender``, parsed once per configured value (the worker asks per message)."""
    return _sender(settings.mail.sender)


@lru_cache(maxsize=8)
def _sender(configured: str) -> Contact:
    return Contact.parse(configured)


@lru_cache(maxsize=8)
def _fingerprint(code: str, configured_sender: str) -> str:
    sender = _sender(configured_sender)
    digest = hashlib.sha256(code.encode("ascii"))
    digest.update(f"\0{sender.name}\0{sender.email}".encode())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _code_hash() -> str:
    """fbh's version, the templates and the rendering code, hashed once per process."""
    digest = hashlib.sha256(_version().encode("utf-8"))
    files = sorted((_HERE / "templates").rglob("*")) + _code_files()
    for path in files:
        if path.is_file():
            name = path.relative_to(_HERE.parent).as_posix()
            digest.update(b"\0" + name.encode("utf-8") + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _version() -> str:
    try:
        return version("fbh")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def with_date(data: bytes, when: datetime) -> bytes:
    """``data`` (a message written by :func:`notifications.wire.message_bytes`) with its
    ``Date`` header set to ``when``; ValueError if it has none. The header block is fbh's own
    (``wire`` checks that every header is one line plus continuations, which start with white
    space), so the first line starting ``Date:`` in it is the ``Date`` header."""
    head_end = data.find(_END_OF_HEAD)
    start = data.find(_DATE, 0, head_end if head_end >= 0 else len(data))
    if start < 0:
        raise ValueError("stored message has no Date header")
    start += 2  # after the CRLF that ends the header before it
    end = data.index(b"\r\n", start)
    return b"".join((data[:start], b"Date: ", _date_value(when), data[end:]))


@lru_cache(maxsize=4)
def _date_value(when: datetime) -> bytes:
    """The ``Date`` value of ``when``: a batch is sent with one ``now``, formatted once."""
    return format_datetime(when).encode("ascii")
