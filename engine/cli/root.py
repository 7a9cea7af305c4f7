"""The part of the CLI that needs no typer: the per-invocation State, logging, the text
output's cleaning and the ``error:`` line. ``fbh serve`` runs on this alone
(:mod:`engine.cli.daemon`); :mod:`engine.cli.common` builds the Typer app on it."""

from __future__ import annotations

import getpass
import gettext
import logging
import os
import sys
from typing import TYPE_CHECKING

from engine.domain.i18n import DOMAIN, LOCALE_DIR, language
from engine.domain.model import is_control

if TYPE_CHECKING:  # imported when used: `fbh --help` must not load pydantic or SQLAlchemy
    from engine.config.settings import Settings
    from engine.services.facade import Fbh

log = logging.getLogger("engine.cli.common")  # the name its lines have always carried


class State:
    """Per-invocation context: the config path and lazily opened services."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None
        self._fbh: Fbh | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from engine.config.settings import load_settings

            self._settings = load_settings(self.config)
            log.info(
                "config %s; database %s",
                self._settings.config_file or "none (built-in defaults)",
                self._settings.database_display,
            )
        return self._settings

    @property
    def fbh(self) -> Fbh:
        """fbh for a command that writes: the database must exist at this fbh's schema."""
        return self.open()

    @property
    def reader(self) -> Fbh:
        """fbh for a command that only reads: never creates or migrates the database, and on
        SQLite takes no write lock (engine/store/database.py)."""
        return self.open(read_only=True)

    def open(self, *, read_only: bool = False, create: bool = False) -> Fbh:
        """fbh on the configured database, opened once per invocation. ``create``: a command
        that creates data from nothing may create a database that does not exist yet; no
        command but ``fbh migrate`` and ``fbh serve`` changes an existing schema."""
        if self._fbh is None:
            from engine.services.facade import Fbh
            from engine.store.database import CREATE, REQUIRE

            self._fbh = Fbh.open(
                self.settings,
                actor=actor_name(),
                schema=CREATE if create else REQUIRE,
                read_only=read_only,
            )
        return self._fbh


def actor_name() -> str:
    return os.environ.get("FBH_ACTOR") or f"cli:{getpass.getuser()}"


def install_gettext() -> None:
    """The standard ``gettext`` domain and ``LANGUAGE`` set to fbh's catalog and language, as
    click's messages need them (engine/cli/i18n.py); ``fbh serve`` without typer sets them as
    well, so that its process is the same either way."""
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = language()


def configure_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CleanFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


class CleanFormatter(logging.Formatter):
    """Log lines for a terminal: no control characters and no secrets (engine/config/secrets.py)."""

    def format(self, record: logging.LogRecord) -> str:
        from engine.config.secrets import redact

        return clean(redact(super().format(record)))


def clean(text: str) -> str:
    """``text`` without control characters, line breaks and tabs kept (CR is dropped)."""
    if not any(is_control(char) for char in text):
        return text
    return "".join(char for char in text if char in "\n\t" or not is_control(char))


def fail(message: str, code: int, *, blank_line: bool = False) -> None:
    """Exit with one ``error:`` line: no control characters, no secret of the environment.
    ``blank_line``: an empty line before it, as click writes one before its ``Abort``."""
    from engine.config.secrets import redact

    one_line = " ".join(clean(redact(str(message))).split())
    sys.stderr.write(f"{chr(10) if blank_line else ''}error: {one_line}\n")
    sys.exit(code)
