"""What every command group shares: the Typer app and its root options, the per-invocation
State, the parsing helpers (one ``error:`` line on bad input) and the JSON output."""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.cli.i18n import N_, _
from engine.domain.errors import InvalidInputError
from engine.domain.model import Contact

if TYPE_CHECKING:  # imported when used: `fbh --help` must not load pydantic or SQLAlchemy
    from engine.config.settings import Settings
    from engine.services.facade import Fbh

log = logging.getLogger(__name__)

app = typer.Typer(
    name="fbh",
    help="fbh: the programme engine of 'Fra bolig til hjem'.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: loading Rich costs more than `fbh --help` may take
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


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


def state(ctx: typer.Context) -> State:
    return ctx.ensure_object(State)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"fbh {version('fbh')}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option("--config", envvar="FBH_CONFIG", help="Path to config.toml."),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="More logging (-v names the config and database)."
        ),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    configure_logging(verbose)
    ctx.obj = State(config)


def configure_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


# ----- parsing helpers ------------------------------------------------------------------------


# Dates the engine can compute with: week arithmetic, reminders and time zones stay well inside
# Python's date range (years 1-9999), so a typo such as year 9999 is one line, not a crash.
FIRST_YEAR, LAST_YEAR = 1970, 2999
MAX_ID = 2**31 - 1  # ids are INTEGER columns (32-bit on PostgreSQL)


def _check_year(value: date, text: str, what: str, kind: str) -> None:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidInputError(
            _("invalid {kind} {text!r} for {what}: the year must be {first}–{last}").format(
                kind=kind, text=text, what=what, first=FIRST_YEAR, last=LAST_YEAR
            )
        )


def parse_date(text: str, what: str) -> date:
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            _("invalid date {text!r} for {what}: expected YYYY-MM-DD").format(text=text, what=what)
        ) from None
    _check_year(value, text, what, _("date"))
    return value


def parse_datetime(text: str, what: str, settings: Settings) -> datetime:
    """ISO 8601; without an offset it is local time in the configured zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            _(
                "invalid date and time {text!r} for {what}: expected e.g. 2027-03-09T09:00 "
                "or 2027-03-09T09:00+01:00"
            ).format(text=text, what=what)
        ) from None
    _check_year(value, text, what, _("date and time"))
    return value.replace(tzinfo=settings.tz) if value.tzinfo is None else value


def parse_contact(text: str, what: str) -> Contact:
    try:
        return Contact.parse(text)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{what}: {exc}") from None  # exc is translated


ID_NAMES = (N_("programme id"), N_("entry id"), N_("request id"))  # what parse_id is told


def parse_id(text: str, what: str = "programme id") -> int:
    digits = text.strip()
    name = _(what)
    if not (digits.isascii() and digits.isdigit()):  # int() would also take '1_0' and '١'
        raise InvalidInputError(
            _("invalid {what} {text!r}: expected a whole number").format(what=name, text=text)
        )
    value = int(digits)
    if value <= 0:
        raise InvalidInputError(
            _("invalid {what} {text!r}: expected a positive number").format(what=name, text=text)
        )
    if value > MAX_ID:
        raise InvalidInputError(
            _("invalid {what} {text!r}: no id is larger than {max}").format(
                what=name, text=text, max=MAX_ID
            )
        )
    return value


def check_choices(values: list[str] | None, allowed: Iterable[str], what: str) -> list[str] | None:
    """Refuse a filter value that is not one of ``allowed`` (a typo would match nothing)."""
    known = list(allowed)
    for value in values or ():
        if value not in known:
            raise InvalidInputError(
                _("invalid {what} {value!r}: expected one of {allowed}").format(
                    what=what, value=value, allowed=", ".join(known)
                )
            )
    return values


def local_iso(value: datetime | None, settings: Settings) -> str | None:
    """A moment as local time with its offset, e.g. ``2027-01-04T10:00:00+01:00``."""
    return value.astimezone(settings.tz).isoformat() if value is not None else None


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def required_text(value: str, what: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInputError(_("{what} must not be empty").format(what=what))
    if any(unicodedata.category(c) == "Cc" for c in cleaned):  # NUL, ESC, ... (not line breaks)
        raise InvalidInputError(
            _("{what} {value!r}: control characters are not allowed").format(what=what, value=value)
        )
    if len(cleaned) > 200:
        raise InvalidInputError(_("{what} is longer than 200 characters").format(what=what))
    return cleaned


def fail(message: str, code: int) -> None:
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"error: {one_line}\n")
    sys.exit(code)
