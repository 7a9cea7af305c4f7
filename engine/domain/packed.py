"""A large template context kept packed in the outbox payload (the weekly digests).

A digest is rendered as it is queued and sent from its bytes (notifications/prerender.py);
its context stays in the payload only as the fallback when the bytes are stale (an upgrade,
an edited template, a new sender). A consultant's context is some 60 KB of JSON with
thousands of values, so storing it as nested JSON cost more than any other step of queueing
and claiming it: encoding every value at the INSERT, and decoding every value at each claim
(``claim_due`` reads the payload of a row whose bytes are not current). Packed, it is one
string: the context's JSON (orjson), compressed with zlib and base64-encoded, about a tenth
of the size, which the claim decodes as a single value. :func:`payload_context` reads either
form, so the payload still holds everything needed to render the mail
(docs/notifications.md). ``fbh participant forget`` looks inside packed contexts for the
person (engine/store/forget.py, :func:`unpacked`).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["PACKED_KEY", "pack_context", "payload_context", "unpacked"]

PACKED_KEY = "packed_context"
_LEVEL = 1  # the fastest: level 6 is 3× slower and only some 20 % smaller on a digest


def pack_context(context: Mapping[str, Any]) -> str:
    """``context`` (JSON-safe) as the text stored under :data:`PACKED_KEY`."""
    data = orjson.dumps(context, option=orjson.OPT_NON_STR_KEYS)
    return base64.b64encode(zlib.compress(data, _LEVEL)).decode("ascii")


def payload_context(payload: Mapping[str, Any]) -> Any:
    """The template context of a stored payload, packed or not (as JSON gives it back)."""
    packed = payload.get(PACKED_KEY)
    if packed is None:
        return payload["context"]
    return orjson.loads(zlib.decompress(base64.b64decode(packed)))


def unpacked(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` with its packed context as a plain ``context`` (it renders the same)."""
    plain = {key: value for key, value in payload.items() if key != PACKED_KEY}
    if PACKED_KEY in payload:
        plain["context"] = payload_context(payload)
    return plain
