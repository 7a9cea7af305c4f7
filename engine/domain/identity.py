"""Installation-unique identifiers.

Each database holds one random installation id (created by migration 0004). It goes into every
new iCalendar UID and Message-ID, so two installations that both number a programme 7 never
give its meetings the same UID, and a mail they both queue under the same key never carries the
same Message-ID (receivers such as Gmail drop a Message-ID they have already seen).
"""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["INSTALLATION_ID", "new_installation_id", "salted_message_id"]

INSTALLATION_ID = re.compile(r"^[a-z0-9]{8,32}$")
_MESSAGE_ID = re.compile(r"^<(?P<left>[^<>\s@]+)@(?P<right>[^<>\s@]+)>$")


def new_installation_id() -> str:
    """A fresh random id: 16 lowercase hex digits (64 bits)."""
    return secrets.token_hex(8)


def salted_message_id(message_id: str, installation: str) -> str:
    """``<left@domain>`` → ``<hash(installation, left)@domain>``: deterministic per installation
    and outbox key, different between installations. Anything else is returned unchanged."""
    match = _MESSAGE_ID.match(message_id)
    if not match or not installation:
        return message_id
    digest = hashlib.sha256(f"{installation}:{match['left']}".encode()).hexdigest()[:32]
    return f"<{digest}.{installation}@{match['right']}>"
