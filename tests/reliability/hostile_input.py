"""Helpers for the bad- and hostile-input half of the reliability suite.

* ``Cli`` runs the real ``fbh`` command line against a real SQLite file: in process through
  ``engine.cli.main.main`` (the same argv parsing, error mapping and exit codes as the installed
  binary, at a tenth of the cost, so hypothesis can try many inputs) or as a subprocess of the
  installed ``fbh`` script (a handful of cases, to prove the in-process path is the real one).
* ``db_dump`` is an independent snapshot of the database (stdlib ``sqlite3``), to show that a
  refused command wrote nothing.
* ``is_traceback`` tells a one-line user error from a crash: a Python traceback, an exception
  escaping ``main``, or the ``error: unexpected …`` line of exit code 1.
"""

from __future__ import annotations

import contextlib
import io
import re
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.store.store import Store

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "workflows"
FBH = Path(sys.executable).with_name("fbh")
SENDER = "Fra bolig til hjem <fraboligtilhjem@bl.dk>"
LEAD = "Programleder <lead@bl.dk>"


@dataclass(frozen=True)
class Result:
    """What one run of the command line did. ``code`` is None if an exception escaped."""

    args: tuple[str, ...]
    code: int | None
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()

    def __str__(self) -> str:
        return f"fbh {self.args!r} -> {self.code}\nstdout: {self.out!r}\nstderr: {self.err!r}"


def is_traceback(result: Result) -> bool:
    """A crash where a one-line user error was due."""
    return (
        result.code is None
        or result.code == 1
        or "Traceback (most recent call last)" in result.err + result.out
        or "error: unexpected " in result.err
    )


def write_config(home: Path, database: Path, workflows: Path = WORKFLOWS) -> Path:
    config = home / "config.toml"
    config.write_text(
        f"""
[engine]
workflows = "{workflows}"

[database]
url = "sqlite:///{database}"

[mail]
transport = "maildir"
maildir = "{home / "mail"}"
sender = "{SENDER}"
lead = "{LEAD}"
""",
        encoding="utf-8",
    )
    return config


@contextlib.contextmanager
def _stores_disposed() -> Iterator[None]:
    """Dispose every store ``main`` opens (the binary's process exit does that for it)."""
    opened: list[Store] = []
    original: Any = Store.__dict__["open"]

    def tracking(cls: type[Store], *args: Any, **kwargs: Any) -> Store:
        store = original.__func__(cls, *args, **kwargs)
        opened.append(store)
        return store

    Store.open = classmethod(tracking)  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        Store.open = original  # type: ignore[method-assign]
        for store in opened:
            store.dispose()


_COMMANDS: dict[int, Any] = {}


@contextlib.contextmanager
def _command_built_once() -> Iterator[None]:
    """``main`` builds the click command from the Typer app on every call (70 % of an
    in-process run); build it once. The binary pays this once per process too."""
    import typer.main

    original = typer.main.get_command

    def cached(app: Any) -> Any:
        if id(app) not in _COMMANDS:
            _COMMANDS[id(app)] = original(app)
        return _COMMANDS[id(app)]

    typer.main.get_command = cached  # type: ignore[assignment]
    try:
        yield
    finally:
        typer.main.get_command = original


@dataclass(frozen=True)
class Cli:
    home: Path
    config: Path

    def __call__(self, *args: str) -> Result:
        """Run ``fbh --config CONFIG ARGS…`` in this process, through ``engine.cli.main.main``."""
        from engine.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        code: int | None = None
        argv = ["--config", str(self.config), *args]
        with (
            _command_built_once(),
            _stores_disposed(),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                main(argv)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # anything escaping main() is a crash: keep its traceback
                err.write(traceback.format_exc())
        return Result(tuple(args), code, out.getvalue(), err.getvalue())

    def binary(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """Run the installed ``fbh`` script as a subprocess."""
        proc = subprocess.run(
            [str(FBH), "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            cwd=self.home,
            env=env,
            timeout=120,
        )
        return Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)


def db_dump(database: Path) -> list[str]:
    """Every row of every table, as SQL, read with the stdlib driver (not fbh's store)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


ERROR_LINE = re.compile(r"^error: \S.*$")


def one_error_line(result: Result) -> str:
    """The single ``error: …`` line of a refused command (asserts exit 2, nothing else)."""
    assert result.code == 2, result
    assert result.out == "", result
    lines = result.err_lines
    assert len(lines) == 1, result
    assert ERROR_LINE.match(lines[0]), result
    return lines[0]
