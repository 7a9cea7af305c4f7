"""Credentials: where they come from, and how they are kept out of every message.

Passwords are read only from the environment: ``FBH_SMTP_PASSWORD``, ``FBH_IMAP_PASSWORD`` and
``FBH_DATABASE_PASSWORD`` (or the whole ``FBH_DATABASE_URL``). A password in ``config.toml`` is
refused. Database URLs are parsed with SQLAlchemy's :func:`~sqlalchemy.engine.make_url`;
whatever fbh prints (errors, logs, ``fbh status``) shows a URL with ``***`` for its password
(:func:`display_url`), and :func:`redact` removes the secrets of the environment from any text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote

from engine.domain.errors import ConfigError
from engine.domain.i18n import _

if TYPE_CHECKING:  # SQLAlchemy is imported when a URL is parsed: `fbh plan` does not need it
    from sqlalchemy.engine import URL

SMTP_PASSWORD_ENV = "FBH_SMTP_PASSWORD"
IMAP_PASSWORD_ENV = "FBH_IMAP_PASSWORD"
DATABASE_URL_ENV = "FBH_DATABASE_URL"
DATABASE_PASSWORD_ENV = "FBH_DATABASE_PASSWORD"
PSEUDONYM_KEY_ENV = "FBH_PSEUDONYM_KEY"  # keys the audit log's pseudonyms
SECRET_ENVS = (SMTP_PASSWORD_ENV, IMAP_PASSWORD_ENV, DATABASE_PASSWORD_ENV, PSEUDONYM_KEY_ENV)
MASK = "***"

# "scheme://user:password@" or a URL missing its colon ("scheme//user:password@"): used only
# where SQLAlchemy cannot parse the text (a malformed URL, or a URL inside a longer message).
_USERINFO = re.compile(r"(//[^/@\s:'\"]*:)[^@\s'\"]*@")


def display_url(url: str) -> str:
    """The database URL as fbh shows it: its password (if any) replaced by ``***``."""
    if "@" not in url:  # no user info, nothing to hide (and no SQLAlchemy import to pay)
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return _USERINFO.sub(rf"\g<1>{MASK}@", url)


def parse_database_url(url: str, source: str) -> URL:
    """``url`` parsed; a malformed URL or port is a ``ConfigError`` naming ``source`` (the
    config file and key, or the environment variable), with any password masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    shown = display_url(url)
    example = "postgresql+psycopg://user@host:5432/database"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            _("{source}: invalid database URL {url}: expected e.g. {example}").format(
                source=source, url=repr(shown), example=example
            )
        ) from None
    except ValueError:  # SQLAlchemy reads the port with int()
        raise ConfigError(
            _("{source}: invalid database URL {url}: the port must be a number").format(
                source=source, url=repr(shown)
            )
        ) from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ConfigError(
            _("{source}: invalid database URL {url}: the port must be 1–65535").format(
                source=source, url=repr(shown)
            )
        )
    return parsed


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret the environment holds: the passwords, and the password of the URL."""
    env = os.environ if env is None else env
    found = [env[name] for name in SECRET_ENVS if env.get(name)]
    url = env.get(DATABASE_URL_ENV)
    if url:
        match = _USERINFO.search(url)
        if match:
            password = url[match.end(1) : match.end() - 1]
            found += [password, unquote(password)]
    # a secret of one to three characters would mask every such run of letters in a message
    return sorted({value for value in found if len(value) >= 4}, key=len, reverse=True)


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` with every secret of the environment and every URL password masked."""
    for secret in secret_values(env):
        text = text.replace(secret, MASK)
    return _USERINFO.sub(rf"\g<1>{MASK}@", text)
