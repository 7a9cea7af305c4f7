"""Everything the CLI prints goes through one sanitising helper (issue 13, §5)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.cli.common import clean, emit_json, say

CLI = Path(__file__).resolve().parents[2] / "engine" / "cli"
RAW_OUTPUT = re.compile(r"typer\.(echo|secho)\(|\bprint\(|sys\.(stdout|stderr)\.write\(")


def test_only_common_writes_to_the_terminal() -> None:
    """A new ``typer.echo`` elsewhere would bypass ``say()`` and its stripping (root.py holds
    ``fail()``, which the typer-free ``fbh serve`` uses too)."""
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(CLI.glob("*.py"))
        if path.name not in ("common.py", "root.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if RAW_OUTPUT.search(line)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Aar\x1b[2J\x1b]0;pwned\x07hus", "Aar[2J]0;pwnedhus"),
        ("Øst\x9b31m", "Øst31m"),
        ("a\r\nb\tc\x00d\x7f", "a\nb\tcd"),
        ("æøå ÆØÅ", "æøå ÆØÅ"),
    ],
)
def test_say_strips_control_characters(
    text: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert clean(text) == shown
    say(text)
    assert capsys.readouterr().out == shown + "\n"


def test_json_escapes_every_control_character(capsys: pytest.CaptureFixture[str]) -> None:
    value = {"municipality": "Aar\x1b[2J\x9b\x7fhus æ"}
    emit_json(value)
    out = capsys.readouterr().out
    assert not any((0 <= ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in out)
    assert json.loads(out) == value
