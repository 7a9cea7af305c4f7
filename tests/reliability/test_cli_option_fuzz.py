"""Every free-text value of the command line, fed hostile text (issue 13, §5).

The commands and their options are read from the click command the ``fbh`` entry point builds,
so an option added later is fuzzed without touching this file; a new command that takes text
needs one valid invocation in ``BASELINES`` (the first test fails until it has one). Each
hostile value (100 KB, ESC/CSI/OSC sequences, a C1 CSI, CR/LF, NUL, æøå) is either accepted,
and then nothing printed carries a control character, or refused with exit 2 and one
``error:`` line; never a traceback or exit 1. Afterwards no stored text holds a control
character or a 100 KB value.
"""

from __future__ import annotations

import sqlite3
import types
import typing
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from hostile_input import WORKFLOWS, Cli, Result, is_traceback, one_error_line, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.domain.courses import Registrant
from engine.domain.definitions import load_registry
from engine.domain.model import Contact
from engine.services.courses import NewCourse
from engine.services.facade import Fbh, NewProgramme
from engine.services.timelog import log_time
from engine.store.store import Store

NOW = datetime(2027, 2, 1, 10, 0, tzinfo=UTC)
HOSTILE = {
    "100 KB": "x" * 100_000,
    "CSI": "Ab\x1b[31mred\x1b[0m",
    "OSC": "Ab\x1b]0;retitled\x07",
    "C1 CSI": "Ab\x9b2J",
    "CR/LF": "Ab\r\nBcc: evil@x.dk",
    "NUL": "Ab\x00c",
    "æøå": "Ærø æøå",
}
ANNE = "Anne <anne@bl.dk>"
KAREN = "Karen <karen@faellesbo.dk>"
CREATE = [
    *(
        [
            "programme",
            "create",
            "--workflow",
            "socialt-beredskab",
            "--org",
            "Ny",
            "--municipality",
            "Aarhus",
        ]
    ),
    *("--consultant", "Bo <bo@bl.dk>", "--tovholder", "Tove <tove@ny.dk>", "--start"),
    "2027-03-01",
]
ACCEPT = [
    *(["request", "accept", "1", "--start", "2027-03-01", "--municipality", "Aarhus"]),
    *("--consultant", "Bo <bo@bl.dk>", "--tovholder", KAREN),
]
# One valid invocation per command that takes text; "{out}" is a fresh file name.
BASELINES: dict[str, list[str]] = {
    "init": ["init", "{out}"],
    "plan": ["plan", "socialt-beredskab", "--start", "2027-03-01"],
    "workflows check": ["workflows", "check", str(WORKFLOWS)],
    "programme create": CREATE,
    "programme show": ["programme", "show", "1"],
    "programme list": ["programme", "list", "--state", "running"],
    "programme link": ["programme", "link", "1"],
    "programme cancel": ["programme", "cancel", "2", "--yes"],
    "programme pause": ["programme", "pause", "1"],
    "programme resume": ["programme", "resume", "1"],
    "programme move": ["programme", "move", "1", "--start", "2027-01-11", "--dry-run"],
    "milestone done": ["milestone", "done", "1", "afsaet"],
    "milestone skip": ["milestone", "skip", "1", "afsaet"],
    "milestone reschedule": ["milestone", "reschedule", "1", "workshop", "--start", "{when}"],
    "outbox list": ["outbox", "list", "--state", "pending"],
    "outbox show": ["outbox", "show", "1"],
    "outbox retry": ["outbox", "retry", "1"],
    "request add": ["request", "add", "--org", "Ny", "--contact", KAREN, "--wished-start", "{d}"],
    "request propose": ["request", "propose", "1", "--start", "2027-03-01"],
    "request accept": ACCEPT,
    "request decline": ["request", "decline", "2", "--reason", "for sent"],
    "request assign": ["request", "assign", "1", "--consultant", ANNE],
    "time log": ["time", "log", "1", "--hours", "1", "--date", "2027-01-12", "--note", "n"],
    "time edit": ["time", "edit", "1", "--note", "n", "--part", "socialt-beredskab"],
    "time delete": ["time", "delete", "99"],
    "time status": ["time", "status", "1"],
    "time list": ["time", "list", "1"],
    "digest preview": ["digest", "preview", "--out", "{out}", "--consultant", ANNE],
    "digest send": ["digest", "send", "--consultant", ANNE],
    "feed token": ["feed", "token", "anne@bl.dk"],
    "feed export": ["feed", "export", "anne@bl.dk", "--out", "{out}"],
    "backup": ["backup", "--out", "{out}"],
    "participant add": [
        *("participant", "add", "1", "--name", "Pia Politi", "--email", "pia@politi.dk"),
        *("--org", "Politi", "--kind", "police", "--role", "employee"),
    ],
    "participant list": ["participant", "list", "1"],
    "participant remove": ["participant", "remove", "1", "nobody@x.dk"],
    "participant answer": [
        *("participant", "answer", "1", "pia@politi.dk", "--meeting", "workshop"),
        *("--answer", "accepted"),
    ],
    "participant import": ["participant", "import", "1", "{out}"],
    "participant export": ["participant", "export", "1", "{out}"],
    "participant forget": ["participant", "forget", "nobody@x.dk"],
    "participant headcount": ["participant", "headcount", "1"],
    "programme edit": ["programme", "edit", "1", "--tovholder", "Tine <tine@oestervang.dk>"],
    "course add": [
        *("course", "add", "--city", "Aarhus", "--venue", "BL Aarhus", "--capacity", "12"),
        *("--start", "2027-04-06T09:00", "--end", "2027-04-06T16:00"),
    ],
    "course show": ["course", "show", "1"],
    "course register": [
        *("course", "register", "1", "--name", "Ole Olsen", "--email", "ole@faellesbo.dk"),
        *("--org", "Fællesbo"),
    ],
    "course import": ["course", "import", "1", "{csv}"],
    "course unregister": ["course", "unregister", "1", "pia@oestervang.dk"],
    "course cancel": ["course", "cancel", "2"],
    "course publish": ["course", "publish", "--out", "{out}"],
}
# The registrations ``course import`` reads: Danish Excel's "CSV UTF-8" (a BOM, ';').
COURSE_CSV = "\ufeffnavn;email;organisation\r\nLis Lund;lis@lejerbo.dk;Lejerbo\r\n"


def _text_type(annotation: Any) -> bool:
    """``str``, ``Path``, optional or repeated: a value the user types as text."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        return any(_text_type(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation in (str, Path)


def text_parameters() -> list[tuple[str, Any]]:
    """``(command path, parameter)`` for every text parameter of every command."""
    from engine.cli.main import build_command

    root = build_command()
    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "list_commands"):
            ctx = typer_context(command)
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), [*path, name])
            return
        for param in command.params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is not None and _text_type(descriptor.annotation):
                found.append((" ".join(path), param))

    walk(root, [])
    return found


def typer_context(command: Any) -> Any:
    import typer.core

    return typer.core._click.core.Context(command)


PARAMETERS = text_parameters()


def cases() -> list[Any]:
    out = []
    for command, param in PARAMETERS:
        label = param.opts[0] if param.opts[0].startswith("-") else param.name.upper()
        for name, value in HOSTILE.items():
            out.append(pytest.param(command, param.name, value, id=f"{command} {label} {name}"))
    return out


def test_every_command_with_text_has_a_baseline() -> None:
    commands = {command for command, _ in PARAMETERS}
    assert commands - set(BASELINES) == set(), "add a valid invocation to BASELINES"
    assert len(PARAMETERS) >= 40  # the walk found the options (not an empty tree)


def with_value(command: str, param_name: str, value: str, home: Path) -> list[str]:
    """The baseline of ``command`` with ``value`` for the parameter ``param_name``."""
    param = next(p for c, p in PARAMETERS if c == command and p.name == param_name)
    fresh = str(home / f"out-{abs(hash((command, param_name, value)))}")
    args = [
        {
            "{out}": fresh,
            "{when}": "2027-03-09T09:00",
            "{d}": "2027-03-01",
            "{csv}": str(home / "kursister.csv"),
        }.get(a, a)
        for a in BASELINES[command]
    ]
    if param.opts[0].startswith("-"):  # an option: replace its value, or add it
        for opt in param.opts:
            if opt in args:
                args[args.index(opt) + 1] = value
                return args
        return [*args, param.opts[0], value]
    # an argument: the n-th positional value after the command's words
    words = len(command.split())
    command_params = [p for c, p in PARAMETERS if c == command]
    positional = [p for p in command_params if not p.opts[0].startswith("-")]
    index = words + [p.name for p in positional].index(param_name)
    if index < len(args) and not args[index].startswith("-"):
        args[index] = value
    else:
        args.insert(index, value)
    return args


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, Path]:
    """Programmes 1 and 2, requests 1 and 2, time entry 1 and courses 1 and 2 (Pia registered
    for course 1), in a SQLite file, and the CSV ``course import`` reads."""
    home = tmp_path_factory.mktemp("option-fuzz")
    database = home / "fbh.sqlite3"
    cli = Cli(home, write_config(home, database))
    from engine.config.settings import load_settings

    settings = load_settings(str(cli.config))
    store = Store.open(settings.database_url)
    try:
        fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="seed")
        for org in ("Østervang", "Fællesbo"):
            fbh.create_programme(
                NewProgramme(
                    workflow="socialt-beredskab",
                    organisation=org,
                    municipality="Helsingør",
                    consultant=Contact.parse(ANNE),
                    tovholder=Contact.parse("Søren <soren@oestervang.dk>"),
                    start=date(2027, 1, 4),
                ),
                datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
            )
        log_time(fbh, 1, hours=2.5, now=NOW, day=date(2027, 1, 12), note="opstart")
        for org in ("Fællesbo", "Lejerbo"):
            fbh.add_request(
                organisation=org,
                contact=Contact.parse(KAREN),
                wished_start=date(2027, 3, 1),
                received=date(2027, 1, 25),
                now=NOW,
            )
        for city, day in (("København", 9), ("Aarhus", 16)):
            fbh.courses.add(
                NewCourse(
                    city=city,
                    venue=f"BL {city}",
                    start=datetime(2027, 3, day, 8, 0, tzinfo=UTC),
                    end=datetime(2027, 3, day, 15, 0, tzinfo=UTC),
                    capacity=20,
                ),
                NOW,
            )
        fbh.courses.register(1, Registrant("Pia", "pia@oestervang.dk", "Østervang"), NOW)
    finally:
        store.dispose()
    (home / "kursister.csv").write_text(COURSE_CSV, encoding="utf-8", newline="")
    return cli, database


@pytest.fixture
def cli(seeded: tuple[Cli, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    monkeypatch.chdir(seeded[0].home)  # relative file names land in the test's folder
    with time_machine.travel(NOW, tick=False):
        yield seeded[0]


def controls(text: str) -> list[str]:
    """The control characters in ``text`` other than line breaks and tabs."""
    return [c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t"]


def brief(result: Result) -> str:
    """The result for a failure message, each long value cut to 300 characters."""
    args = tuple(a if len(a) <= 80 else a[:40] + f"…({len(a)})" for a in result.args)
    return (
        f"fbh {args!r} -> {result.code}\nstdout: {result.out[:300]!r}\nstderr: {result.err[:300]!r}"
    )


# Commands that report every problem they find, one per line (``file: key: message``).
REPORTS = {"workflows check"}


def check_result(result: Result, command: str) -> None:
    assert not is_traceback(result), f"a crash where a one-line error was due:\n{brief(result)}"
    assert result.code in (0, 2), brief(result)
    if result.code == 2 and command in REPORTS:
        assert result.err and not controls(result.err), brief(result)
    elif result.code == 2:
        try:
            line = one_error_line(result)
        except AssertionError:
            pytest.fail(f"not one error line:\n{brief(result)}")
        assert not controls(line), brief(result)
    else:
        assert not controls(result.out + result.err), brief(result)


@pytest.mark.parametrize(("command", "param_name", "value"), cases())
def test_hostile_text_in_every_option(
    cli: Cli, tally: object, command: str, param_name: str, value: str
) -> None:
    result = cli(*with_value(command, param_name, value, cli.home))
    tally.inputs(1)  # type: ignore[attr-defined]
    if is_traceback(result):
        tally.tracebacks(1)  # type: ignore[attr-defined]
    check_result(result, command)


# Generated text: letters, æøå, white space of every kind, C0/C1 controls and ESC sequences.
ALPHABET = st.sampled_from(
    [
        *"aZ æøåÆØÅ<>@;:,\"'=?",
        *("\t", "\r", "\n", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u202e"),
        *("\x1b[2J", "\x1b]0;t\x07", "=?utf-8?q?=0D=0A?="),
    ]
)
GENERATED = st.one_of(
    st.lists(ALPHABET, max_size=12).map("".join),
    st.builds(
        lambda s, n: s * n,
        st.lists(ALPHABET, min_size=1, max_size=3).map("".join),
        st.integers(1, 40_000),
    ),
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(slot=st.sampled_from([(c, p.name) for c, p in PARAMETERS]), value=GENERATED)
def test_generated_text_in_every_option(
    cli: Cli, tally: object, slot: tuple[str, str], value: str
) -> None:
    command, param_name = slot
    result = cli(*with_value(command, param_name, value, cli.home))
    tally.inputs(1)  # type: ignore[attr-defined]
    if is_traceback(result):
        tally.tracebacks(1)  # type: ignore[attr-defined]
    check_result(result, command)


def test_nothing_hostile_was_stored(seeded: tuple[Cli, Path], tally: object) -> None:
    """Runs after the cases above (same module, file order): every text cell is clean."""
    connection = sqlite3.connect(f"file:{seeded[1]}?mode=ro", uri=True)
    try:
        tables = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    if isinstance(cell, str):
                        assert not controls(cell), (table, cell[:200])
                        assert "x" * 1001 not in cell, (table, len(cell))
    finally:
        connection.close()
    tally.inputs(0)  # type: ignore[attr-defined]
