"""`fbh programme list` and `show` on SQLite answer without importing SQLAlchemy or SQLModel,
the import that costs a read command most of its start-up (docs/benchmarks.md, "CLI start-up")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys
from engine.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    assert not done.code, done.code
print(sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "sqlmodel"))[:3])
"""


def fbh(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize("command", [["programme", "list"], ["programme", "show", "1"]])
def test_a_read_command_on_sqlite_does_not_import_sqlalchemy(
    tmp_path: Path, command: list[str]
) -> None:
    created = fbh(["demo"], tmp_path)
    assert created.returncode == 0, created.stderr
    done = fbh(command, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
