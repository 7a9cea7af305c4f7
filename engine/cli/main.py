"""The ``fbh`` entry point: the command groups put together, and errors mapped to exit codes.

Exit codes: 0 success; 2 user error (one ``error: …`` line on stderr, no traceback); 3 a
database or mail server that cannot be reached (``UnavailableError``, one ``error:`` line);
1 unexpected failure. With ``--json`` exactly one JSON document goes to stdout.

Each group lives in its own module and imports only :mod:`engine.cli.common` (and the shared
text output in :mod:`engine.cli.formatting`); this module lists them in ``COMMANDS`` and
imports one only when it runs.
"""

from __future__ import annotations

import difflib
import gc
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
import typer.core

from engine.cli.common import app, fail
from engine.cli.i18n import _, install_for_click, translate_command, usage_error_message
from engine.domain.errors import FbhError

log = logging.getLogger(__name__)

# name: (module, attribute, one-line help), in the order `fbh --help` lists them. A module is
# imported only when its command runs (or its help is shown), so `fbh --help` and the read
# commands load no more than they use (docs/benchmarks.md, "CLI start-up").
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("engine.cli.init", "init", "Write a commented config.toml and create var/."),
    "plan": ("engine.cli.plan", "plan_command", "Dry run of a timeline; writes nothing."),
    "demo": ("engine.cli.demo", "demo", "Create two sample programmes and deliver their mail."),
    "serve": ("engine.cli.serve", "serve", "Run the daemon until SIGTERM or SIGINT."),
    "migrate": (
        "engine.cli.migrate",
        "migrate_command",
        "Create the database or bring its schema up to date.",
    ),
    "status": ("engine.cli.serve", "status", "Config, database, daemons, outbox, next job."),
    "workflows": ("engine.cli.workflows", "workflows_app", "Workflow definitions."),
    "programme": ("engine.cli.programme", "programme_app", "Programmes (forløb)."),
    "milestone": ("engine.cli.milestone", "milestone_app", "Milestones of a programme."),
    "outbox": ("engine.cli.outbox", "outbox_app", "The outbox of e-mails."),
    "request": ("engine.cli.request", "request_app", "Requests for programmes."),
    "participant": (
        "engine.cli.participant",
        "participant_app",
        "Participants of the workshop and the course days.",
    ),
    "time": ("engine.cli.time", "time_app", "The tovholder's hours against the budget."),
    "digest": ("engine.cli.digest", "digest_app", "Weekly e-mail digests."),
    "inbox": ("engine.cli.inbox", "inbox_app", "Inbound mail: answers, requests, bounces."),
    "course": ("engine.cli.course", "course_app", "The BASIS course calendar."),
    "feed": ("engine.cli.feed", "feed_app", "Calendar feeds of the consultants' meetings."),
    "backup": ("engine.cli.backup", "backup", "Copy the SQLite database while fbh runs."),
}


_LOADED: dict[str, Any] = {}
_SINGLES: dict[str, typer.Typer] = {}  # kept: a command's Typer app lives as long as the process


class LazyGroup(typer.core.TyperGroup):
    """The root group: subcommands come from :data:`COMMANDS`, imported on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if cmd_name not in _LOADED:  # once per process (main() may run many times in one)
            _LOADED[cmd_name] = self._load(cmd_name)
        if cmd_name != "serve":  # it collects again once ready (engine/cli/serve.py)
            gc.enable()
        return _LOADED[cmd_name]

    @staticmethod
    def _load(cmd_name: str) -> Any:
        module_name, attribute, _ = COMMANDS[cmd_name]
        target = getattr(importlib.import_module(module_name), attribute)
        if isinstance(target, typer.Typer):
            command = typer.main.get_command(target)
        else:
            single = _SINGLES.setdefault(cmd_name, typer.Typer(add_completion=False))
            if not single.registered_commands:
                single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        plain_help(command)
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Typer's, with its "Did you mean" suggestion over the lazy commands too."""
        try:
            return super().resolve_command(ctx, args)
        except typer.core._click.exceptions.UsageError as exc:
            matches = difflib.get_close_matches(args[0], list(COMMANDS)) if args else []
            if matches and "Did you mean" not in exc.message:
                suggestions = ", ".join(repr(m) for m in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, _(help_text)) for name, (_m, _a, help_text) in COMMANDS.items()]
        with formatter.section(_("Commands")):
            formatter.write_dl(rows)


def plain_help(command: Any) -> None:
    """Help without Rich and without Typer's raw type labels (``<list[str]>``): each value
    is shown by its name in capitals, as click does (``--start START``)."""
    command.rich_markup_mode = None
    translate_command(command)
    completion = ("install_completion", "show_completion")
    command.params = [p for p in command.params if p.name not in completion]
    for param in command.params:
        if param.metavar is None and not getattr(param, "is_flag", False) and param.name:
            param.metavar = param.name.strip("_").upper()
        if isinstance(param, typer.core.TyperArgument):  # its name already says it
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
    if isinstance(command, typer.core.TyperGroup):
        for sub in command.commands.values():
            plain_help(sub)


def build_command() -> Any:
    app.info.cls = LazyGroup
    command = typer.main.get_command(app)
    completion = [p for p in command.params if (p.name or "").endswith("_completion")]
    plain_help(command)
    command.params.extend(completion)  # only the root offers shell completion
    return command


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI and map errors to exit codes.

    The cyclic garbage collector is off while the command is parsed and its modules are
    imported: imports allocate much and free little, so its passes find next to nothing, at a
    cost measurable in ``fbh serve``'s start-up (docs/benchmarks.md, "Start-up"). It is on
    again when the command runs (``serve``: once ready)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        _main(argv)
    finally:
        if collecting:
            gc.enable()


def _main(argv: Sequence[str] | None) -> None:
    install_for_click()
    command = build_command()
    args = list(sys.argv[1:] if argv is None else argv)
    for arg in args:  # bytes that are not UTF-8 arrive as lone surrogates; nothing can store them
        if any("\ud800" <= char <= "\udfff" for char in arg):
            fail(_("argument {arg!r} is not valid UTF-8 text").format(arg=arg), 2)
    try:
        result = command.main(args=args, prog_name="fbh", standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare group: show its help
            exc.show()  # type: ignore[attr-defined]
            sys.exit(2)
        fail(usage_error_message(exc), 2)
    except typer.Abort:
        fail(_("aborted"), 130)
    except FbhError as exc:
        log.debug("fbh error", exc_info=True)
        fail(str(exc), exc.exit_code)
    except OSError as exc:
        if exc.filename is None:  # not about a file the user named: unexpected
            raise_unexpected(exc)
        log.debug("file error", exc_info=True)
        fail(f"{shown(str(exc.filename))}: {exc.strerror or exc}", 2)
    except KeyboardInterrupt:
        fail(_("interrupted"), 130)
    except Exception as exc:
        raise_unexpected(exc)


def raise_unexpected(exc: BaseException) -> None:
    """Exit 1: a bug. The message is redacted; ``FBH_DEBUG=1`` adds the traceback."""
    if os.environ.get("FBH_DEBUG"):
        traceback.print_exc()
    fail(f"unexpected {type(exc).__name__}: {exc} (set FBH_DEBUG=1 for the traceback)", 1)


def shown(value: str) -> str:
    """A value as a one-line error quotes it: its repr, cut short."""
    return repr(value) if len(value) <= 80 else repr(value[:77]) + "…"
