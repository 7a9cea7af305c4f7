"""Erasing a person (GDPR article 17): the pseudonym the audit log keeps instead of their name
and address, and the pure rewrite of stored JSON (events, queued mail) that puts it there.

The pseudonym is a keyed hash (HMAC-SHA256) of the address: the same person gets the same
pseudonym in every event, so the log still reads as one story, and without the key the
address cannot be recovered by trying addresses (docs/privacy.md).
"""

from __future__ import annotations

import hmac
from typing import Any

FORGOTTEN_NAME = "(slettet)"  # what a forgotten person's name becomes in stored mail


def pseudonym(email: str, key: str) -> str:
    """``person-3f9c0a1be27d4c55``: the same for the same address and key."""
    digest = hmac.new(key.encode("utf-8"), email.strip().lower().encode("utf-8"), "sha256")
    return f"person-{digest.hexdigest()[:16]}"


def pseudonym_address(email: str, key: str) -> str:
    """The pseudonym as an address that can never receive mail (RFC 2606 ``.invalid``)."""
    return f"{pseudonym(email, key)}@forgotten.invalid"


def scrub(value: Any, email: str, names: frozenset[str], alias: str) -> Any:
    """``value`` (parsed JSON) with the person taken out: a table naming ``email`` loses its
    ``name``; every string holding the address or one of ``names`` gets ``alias`` instead."""
    wanted = email.strip().lower()
    if isinstance(value, dict):
        owned = str(value.get("email", "")).strip().lower() == wanted
        result = {}
        for key, item in value.items():
            if owned and key in ("name", "cn", "contact_name"):
                result[key] = FORGOTTEN_NAME
            else:
                result[key] = scrub(item, email, names, alias)
        return result
    if isinstance(value, list | tuple):
        return [scrub(item, email, names, alias) for item in value]
    if isinstance(value, str):
        text = value
        if wanted and wanted in text.lower():
            text = _replace_folded(text, wanted, alias)
        for name in names:
            if name and name in text:
                text = text.replace(name, FORGOTTEN_NAME)
        return text
    return value


def _replace_folded(text: str, wanted: str, alias: str) -> str:
    out, lower, start = [], text.lower(), 0
    while (found := lower.find(wanted, start)) >= 0:
        out.append(text[start:found])
        out.append(alias)
        start = found + len(wanted)
    out.append(text[start:])
    return "".join(out)
