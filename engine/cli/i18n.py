"""The CLI's side of :mod:`engine.domain.i18n`: translated help texts and click's messages."""

from __future__ import annotations

import re
from typing import Any

import typer
from typer._click import exceptions as errors
from typer._click.formatting import HelpFormatter

from engine.cli.root import install_gettext
from engine.domain.i18n import (
    N_,
    _,
    choose_language,
    current,
    language,
    ngettext,
    use_language,
)

__all__ = [
    "N_",
    "FbhContext",
    "_",
    "choose_language",
    "current",
    "install_for_click",
    "language",
    "ngettext",
    "translate_command",
    "translate_help",
    "usage_error_message",
    "use_language",
]


def translate_help(command: object) -> None:
    """Translate a click command's help texts in place (they are English in the code)."""
    for attribute in ("help", "short_help", "epilog"):
        text = getattr(command, attribute, None)
        if isinstance(text, str) and text:
            setattr(command, attribute, _(text.strip()))
    for param in getattr(command, "params", ()):
        text = getattr(param, "help", None)
        if isinstance(text, str) and text:
            param.help = _(text)


# click's messages that typer still looks up with the standard gettext, in the domain
# installed by :func:`install_for_click` (the others are translated below)
CLICK_MESSAGES = (
    N_("Options"),
    N_("Commands"),
    N_("Arguments"),
    N_("Missing command."),
    N_("No such command {name!r}."),
    N_("Aborted!"),
    N_("env var: {var}"),
    N_("default: {default}"),
    N_("(dynamic)"),
    N_("required"),
)


def install_for_click() -> None:
    """Let click's messages (``Usage:``, ``Options``, its errors) use this catalog too: click
    calls the standard ``gettext.gettext``, which reads the global domain and ``LANGUAGE``."""
    install_gettext()


# Typer (since 0.26) vendors click in ``typer._click``, without gettext: its help headings,
# its ``--help`` line and its usage errors are English f-strings. Typer's own strings still go
# through gettext (``Options``, ``Commands``, ``default: …``, ``No such command``), so
# :func:`install_for_click` stays; the rest is translated here: the help through
# :class:`FbhContext` and :func:`translate_command`, the errors by :func:`usage_error_message`.

HELP_LINE = N_("Show this message and exit.")


class FbhHelpFormatter(HelpFormatter):
    """click's formatter with a translated ``Usage:``."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, _("Usage:") + " " if prefix is None else prefix)


class FbhContext(typer.Context):
    formatter_class = FbhHelpFormatter


def translate_command(command: Any) -> None:
    """Translate a command's own texts, its usage line and its ``--help`` line."""
    translate_help(command)
    command.context_class = FbhContext
    if command.options_metavar == "[OPTIONS]":
        command.options_metavar = _("[OPTIONS]")
    if getattr(command, "subcommand_metavar", None) == "COMMAND [ARGS]...":
        command.subcommand_metavar = _("COMMAND [ARGS]...")
    # the command's own method, kept once: translating a command again (a process that runs
    # main() many times over one cached command) must not wrap the wrapper
    help_option = command.__dict__.setdefault("_fbh_get_help_option", command.get_help_option)

    def translated_help_option(ctx: Any) -> Any:
        option = help_option(ctx)
        if option is not None and option.help == HELP_LINE:
            option.help = _(HELP_LINE)
        return option

    command.get_help_option = translated_help_option


# English messages of typer._click (parser and core), as patterns over the message; each
# named group is passed to the translation.
USAGE_MESSAGES = (
    (re.compile(r"No such option: (?P<name>.*)", re.S), N_("No such option: {name}")),
    (
        re.compile(r"Option (?P<name>'.*') requires an argument\.", re.S),
        N_("Option {name} requires an argument."),
    ),
    (
        re.compile(r"Option (?P<name>'.*') requires (?P<n>\d+) arguments\.", re.S),
        N_("Option {name} requires {n} arguments."),
    ),
    (
        re.compile(r"Option (?P<name>'.*') does not take a value\.", re.S),
        N_("Option {name} does not take a value."),
    ),
    (
        re.compile(r"Argument (?P<name>'.*') takes (?P<n>\d+) values\.", re.S),
        N_("Argument {name} takes {n} values."),
    ),
    (
        re.compile(r"Got unexpected extra argument\(s\) \((?P<args>.*)\)", re.S),
        N_("Got unexpected extra argument(s) ({args})"),
    ),
    (
        re.compile(r"Value (?P<value>.*) is not a valid (?P<type>\w+)\.", re.S),
        N_("Value {value} is not a valid {type}."),
    ),
)

# what a value failed in pydantic (typer converts typed options with it): its error type
VALUE_ERRORS = {
    "int_parsing": N_("expected a whole number"),
    "int_from_float": N_("expected a whole number"),
    "int_type": N_("expected a whole number"),
    "float_parsing": N_("expected a number"),
    "float_type": N_("expected a number"),
    "greater_than_equal": N_("must be at least {ge}"),
    "greater_than": N_("must be greater than {gt}"),
    "less_than_equal": N_("must be at most {le}"),
    "less_than": N_("must be less than {lt}"),
    "bool_parsing": N_("expected yes or no (true/false)"),
    "enum": N_("expected one of {expected}"),
    "literal_error": N_("expected one of {expected}"),
}

MISSING = {
    "argument": N_("Missing argument"),
    "option": N_("Missing option"),
    "parameter": N_("Missing parameter"),
}


def usage_error_message(exc: Exception) -> str:
    """A usage error of typer's click in the CLI's language (English: click's own words)."""
    if isinstance(exc, errors.MissingParameter):
        return _missing(exc)
    if isinstance(exc, errors.BadParameter):
        hint = _param_hint(exc)
        message = _value_message(exc)
        if hint is None:
            return _("Invalid value: {message}").format(message=message)
        return _("Invalid value for {param_hint}: {message}").format(
            param_hint=hint, message=message
        )
    if isinstance(exc, errors.NoSuchOption) and exc.possibilities:
        options = ", ".join(sorted(exc.possibilities))
        return f"{_translated(exc.message)} " + _("(Possible options: {options})").format(
            options=options
        )
    text = exc.format_message() if isinstance(exc, errors.ClickException) else str(exc)
    message = getattr(exc, "message", text)
    return text.replace(message, _translated(message), 1)


SUGGESTION = re.compile(r"(?P<message>.*)\. Did you mean (?P<suggestions>.*)\?", re.S)


def _translated(message: str) -> str:
    if match := SUGGESTION.fullmatch(message):  # typer's "No such command" is translated
        suggestion = _("Did you mean {suggestions}?").format(suggestions=match["suggestions"])
        return f"{_translated(match['message'])}. {suggestion}"
    for pattern, msgid in USAGE_MESSAGES:
        if match := pattern.fullmatch(message):
            return _(msgid).format(**match.groupdict())
    return message


def _param_hint(exc: Any) -> str | None:
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint()
    if hint is not None and not isinstance(hint, str):
        hint = " / ".join(repr(x) for x in hint)
    return hint


def _value_message(exc: Any) -> str:
    cause = exc.__cause__
    details = cause.errors() if cause is not None and hasattr(cause, "errors") else None
    if not details:
        return _translated(str(exc.message))
    first = details[0]
    if language() == "en":  # pydantic's own words, as typer shows them
        return str(exc.message)
    msgid = VALUE_ERRORS.get(first.get("type", ""))
    if msgid is None:
        return str(exc.message)
    return _(msgid).format(**{k: str(v) for k, v in (first.get("ctx") or {}).items()})


def _missing(exc: Any) -> str:
    kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else "parameter")
    hint = _param_hint(exc)
    head = _(MISSING.get(kind, MISSING["parameter"])) + (f" {hint}" if hint else "")
    extra = exc.param.get_missing_message(ctx=exc.ctx) if exc.param is not None else ""
    message = ". ".join(m for m in (exc.message, extra) if m)
    return f"{head}. {message}" if message else f"{head}."
