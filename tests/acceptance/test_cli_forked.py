"""The forked ``fbh`` processes most acceptance tests run (tests/acceptance/forkserver.py) say
and do what the installed ``fbh`` script says and does: the same exit codes, stdout and stderr,
in English and Danish, on success, a user error (exit 2), an unreachable database (exit 3)
and a command that writes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fbhcli import Cli, Result, write_config

CREATE = [
    *("programme", "create", "--workflow", "socialt-beredskab", "--org", "Østervang"),
    *("--municipality", "Helsingør", "--consultant", "Anne <anne@bl.dk>"),
    *("--tovholder", "Tove <tove@oestervang.dk>", "--start", "2027-01-04"),
]
COMMANDS = [
    ["--version"],
    ["--help"],
    ["programme", "--help"],
    ["plan", "socialt-beredskab", "--start", "2027-01-04"],
    ["programme", "list"],  # no database yet: exit 2, says where it looked
    ["migrate"],
    [*CREATE, "--json"],
    CREATE,  # the same again: refused (exit 2)
    ["programme", "show", "1"],
    ["programme", "list", "--state", "runing"],  # a bad filter value: exit 2
    ["milestone", "done", "1", "workshop"],  # a guard: exit 2
    ["outbox", "list", "--state", "failed"],
    ["no-such-command"],
]


def both(tmp_path: Path, fresh_cli: Cli, name: str) -> tuple[Cli, Cli]:
    """The same CLI in two folders of the same name length, forked and binary."""
    runs = []
    for kind, forked in (("f", True), ("b", False)):
        home = tmp_path / f"{name}-{kind}"
        home.mkdir()
        config = write_config(home, "sqlite:///var/fbh.sqlite3")
        runs.append(replace(fresh_cli, home=home, config=config, forked=forked))
    return runs[0], runs[1]


def same(forked: Result, binary: Result, forked_home: Path, binary_home: Path) -> None:
    def norm(text: str) -> str:
        return text.replace(str(forked_home), "HOME").replace(str(binary_home), "HOME")

    assert (forked.code, norm(forked.out), norm(forked.err)) == (
        binary.code,
        norm(binary.out),
        norm(binary.err),
    )


@pytest.mark.parametrize("lang", ["en_US.UTF-8", "da_DK.UTF-8"])
def test_a_forked_fbh_says_what_the_binary_says(tmp_path: Path, fresh_cli: Cli, lang: str) -> None:
    forked, binary = both(tmp_path, fresh_cli, lang[:2])
    forked, binary = forked.in_language(lang), binary.in_language(lang)
    codes = set()
    for args in COMMANDS:
        results = forked(*args, check=False), binary(*args, check=False)
        same(*results, forked.home, binary.home)
        codes.add(results[1].code)
    assert codes == {0, 2}


def test_a_forked_fbh_exits_3_as_the_binary_does(tmp_path: Path, fresh_cli: Cli) -> None:
    forked, binary = both(tmp_path, fresh_cli, "down")
    unreachable = {"FBH_DATABASE_URL": "postgresql+psycopg://fbh@127.0.0.1:9/fbh"}
    results = [
        replace(cli, env=cli.env | unreachable)("programme", "list", check=False)
        for cli in (forked, binary)
    ]
    same(*results, forked.home, binary.home)
    assert results[1].code == 3 and results[1].err.startswith("error: ")
