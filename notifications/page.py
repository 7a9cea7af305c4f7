"""The tovholder's page as HTML (``notifications/templates/page/``), with the mail's Jinja2
environment: autoescaped, StrictUndefined, the same ``da_*`` filters and the digest's
timeline and hours bar (as markup with classes: the page's CSP allows no inline style)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from notifications.render import TEMPLATE_DIR, environment

PAGE_TEMPLATE = "page/tovholder.html"
STYLESHEET = TEMPLATE_DIR / "page" / "page.css"


def render_page(context: Mapping[str, Any]) -> str:
    return environment().get_template(PAGE_TEMPLATE).render(context)


@lru_cache(maxsize=1)
def stylesheet() -> bytes:
    return STYLESHEET.read_bytes()
