"""Configuration of the HTTP server of ``fbh serve`` (``[http]``). Part of ``Settings``.

No ``listen`` key (the default): no HTTP server. See docs/operations.md.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import field_validator

from engine.config.base import Between, Section

DEFAULT_FEED_CANCELLED_DAYS = 30
DEFAULT_PAGE_REQUESTS = 60


class HttpSection(Section):
    """``listen = "HOST:PORT"`` (an IPv6 host in brackets: ``"[::1]:8765"``)."""

    listen: str | None = None
    # A cancelled meeting stays in the calendar feeds (STATUS:CANCELLED) this many days after
    # its cancellation, so subscribed calendars see it cancelled; then it drops out.
    feed_cancelled_days: Annotated[int, Between(0, 3660)] = DEFAULT_FEED_CANCELLED_DAYS
    # How the tovholder reaches this server, e.g. "https://fbh.bl.dk": the links in mails and
    # ``fbh programme link`` are then full URLs (without it, paths such as /p/{token}).
    public_url: str | None = None
    # Requests a minute one page token may make (GET and POST); more get 429.
    page_requests_per_minute: Annotated[int, Between(1, 10_000)] = DEFAULT_PAGE_REQUESTS

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip().rstrip("/")
        parsed = urlsplit(text)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"expected an http(s) URL, e.g. https://fbh.example.dk, got {value!r}")
        if parsed.query or parsed.fragment or any(c in text for c in " \r\n\t"):
            raise ValueError(f"expected a URL without query, fragment or spaces, got {value!r}")
        return text

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` to bind, or None when the server is off."""
        return None if self.listen is None else split_listen(self.listen)


def split_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8765"`` → ``("127.0.0.1", 8765)``; ``"[::1]:8765"`` → ``("::1", 8765)``."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:8765, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        ipaddress.IPv6Address(host)  # a ValueError names the bad address
    elif ":" in host:
        raise ValueError(f"an IPv6 address needs brackets, e.g. [::1]:8765, got {text!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port {port_text!r}: expected 1–65535")
    return host, int(port_text)
