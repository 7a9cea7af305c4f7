"""The Typer side of ``fbh``: the root group, whose subcommands are imported on first use,
and running a command line through it with typer's errors mapped to exit codes
(:mod:`engine.cli.main` maps the rest)."""

from __future__ import annotations

import difflib
import gc
import importlib
import sys
from typing import Any

import typer
import typer.core

from engine.cli.commands import COMMANDS
from engine.cli.common import app, fail
from engine.cli.i18n import _, install_for_click, translate_command, usage_error_message

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
        if cmd_name != "serve":  # it collects again once ready (engine/cli/daemon.py)
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


def run(args: list[str]) -> None:
    """Run ``fbh ARGS…`` through typer; its own errors become exit codes here."""
    install_for_click()
    command = build_command()
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
