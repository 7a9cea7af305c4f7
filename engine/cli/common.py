"""What every command group shares: the Typer app and its root options, the per-invocation
State, the parsing helpers (one ``error:`` line on bad input) and the JSON output."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.cli.i18n import N_, _
from engine.cli.root import CleanFormatter as CleanFormatter
from engine.cli.root import State as State
from engine.cli.root import actor_name as actor_name
from engine.cli.root import clean as clean
from engine.cli.root import configure_logging as configure_logging
from engine.cli.root import fail as fail
from engine.domain.errors import InvalidInputError
from engine.domain.model import MAX_NAME, Contact, check_text, is_control

if TYPE_CHECKING:  # imported when used: `fbh --help` must not load pydantic or SQLAlchemy
    from engine.config.settings import Settings

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


# ----- parsing helpers ------------------------------------------------------------------------


# Dates the engine can compute with: week arithmetic, reminders and time zones stay well inside
# Python's date range (years 1-9999), so a typo such as year 9999 is one line, not a crash.
FIRST_YEAR, LAST_YEAR = 1970, 2999
MAX_ID = 2**31 - 1  # ids are INTEGER columns (32-bit on PostgreSQL)
MAX_PATH = 4096  # a file or folder name (Linux's PATH_MAX)


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
    """One JSON document. JSON escapes C0 controls itself; DEL and C1 (e.g. CSI, U+009B) are
    written as ``\\u`` escapes too, so no raw control character reaches a terminal."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    typer.echo(_C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


_C1 = re.compile("[\x7f-\x9f]")


def required_text(value: str, what: str, limit: int = MAX_NAME) -> str:
    """A name (organisation, municipality): folded, not empty, no control characters, at most
    ``limit`` characters (the domain's check, :func:`engine.domain.model.check_text`)."""
    return check_text(value, what, limit)


def checked_path(value: Path, what: str) -> Path:
    """A file or folder name the user gave: no control characters (they would end up in
    file names and in what fbh prints), and no longer than a path can be."""
    text = str(value)
    if len(text) > MAX_PATH:  # the OS would refuse it too, in an error line as long as the name
        raise InvalidInputError(
            _("{what} is longer than {limit} characters ({length})").format(
                what=what, limit=MAX_PATH, length=len(text)
            )
        )
    if any(is_control(char) for char in text):
        raise InvalidInputError(
            _("{what} {value}: control characters are not allowed").format(
                what=what, value=repr(text) if len(text) <= 60 else repr(text[:57]) + "…"
            )
        )
    return value


def optional_text(value: str, what: str, limit: int, *, multiline: bool = False) -> str:
    """Free text that may be empty (a reason, a note): the same checks as ``required_text``;
    ``multiline`` keeps line breaks (a reason told in a mail)."""
    return check_text(value, what, limit, required=False, multiline=multiline)


# ----- text output ------------------------------------------------------------------------------
# Everything fbh prints to a terminal goes through ``clean``: a value stored by an older fbh, or
# arriving by e-mail, must not move the cursor, retitle the window or hide text (ESC/OSC/CSI).


def say(text: object = "", *, err: bool = False) -> None:
    """Print one message (it may span lines) for a person, without control characters."""
    typer.echo(clean(str(text)), err=err)
