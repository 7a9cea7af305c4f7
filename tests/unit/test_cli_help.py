"""The help of every command: plain text, no raw type labels such as ``<list[str]>``."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

import typer

from engine.cli import i18n
from engine.cli.i18n import HELP_LINE, translate_command
from engine.cli.main import COMMANDS, build_command

RAW_TYPE = re.compile(r"<(str|int|float|bool|Path|list\[[^\]]*\]|datetime)>")


def helps(command: Any, ctx: Any, path: str) -> Iterator[tuple[str, str]]:
    yield path, command.get_help(ctx)
    for name in command.list_commands(ctx) if hasattr(command, "list_commands") else ():
        sub = command.get_command(ctx, name)
        yield from helps(sub, typer.Context(sub, info_name=name, parent=ctx), f"{path} {name}")


def test_every_help_is_free_of_raw_type_labels() -> None:
    root = build_command()
    seen = dict(helps(root, typer.Context(root, info_name="fbh"), "fbh"))
    assert {f"fbh {name}" for name in COMMANDS} <= set(seen)
    assert "fbh programme create" in seen and "fbh milestone reschedule" in seen
    for path, text in seen.items():
        assert not RAW_TYPE.search(text), f"{path} --help:\n{text}"
        assert "╭" not in text, f"{path} --help is drawn with Rich"
    assert "--start START" in seen["fbh plan"]


def test_the_root_help_lists_every_command_with_its_line() -> None:
    root = build_command()
    text = root.get_help(typer.Context(root, info_name="fbh"))
    for name, (_, _, line) in COMMANDS.items():
        assert re.search(rf"^  {name}\s+{re.escape(line)}$", text, re.M), name
    assert "--version" in text and "--install-completion" in text


def test_translating_a_command_again_does_not_nest() -> None:
    """A process that runs main() many times over one built command (the in-process CLI
    tests cache it) translates it each time: its help option must stay one call deep, or
    after about a thousand runs every error becomes a RecursionError."""
    root = build_command()
    for _round in range(3 * sys.getrecursionlimit()):
        translate_command(root)
    option = root.get_help_option(typer.Context(root, info_name="fbh"))
    assert option is not None and option.help == i18n._(HELP_LINE)
