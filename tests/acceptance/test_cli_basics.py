"""`fbh --version`, `fbh init`, shell completion, and `-v` / `status` naming the config and
database in use (issue 12, "Installing it" and "CLI basics")."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

from fbhcli import FBH, Cli


def test_version(cli: Cli) -> None:
    assert cli("--version").out == f"fbh {version('fbh')}\n"


def test_init_writes_a_commented_config_and_refuses_to_overwrite(cli: Cli) -> None:
    target = cli.home / "etc" / "fbh"
    done = cli("init", str(target))
    config = target / "config.toml"
    assert (target / "var").is_dir() and config.is_file()
    assert str(config) in done.out
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# fbh configuration")
    assert "\nworkflows =" not in text  # the shipped definitions are used

    config.write_text(text + "# mine\n", encoding="utf-8")
    again = cli("init", str(target), check=False)
    assert again.code == 2
    assert again.err.startswith("error: ") and "already exists" in again.err
    assert "Traceback" not in again.err
    assert config.read_text(encoding="utf-8").endswith("# mine\n")

    planned = Cli(home=cli.home, config=config, env=cli.env)
    assert "socialt-beredskab" in planned("plan", "socialt-beredskab", "--start", "2027-01-04").out


def test_status_and_verbose_name_the_config_and_database(cli: Cli) -> None:
    database = cli.home / "var" / "fbh.sqlite3"
    status = cli("status").out.splitlines()
    assert status[:2] == [f"config: {cli.config}", f"database: sqlite:///{database}"]
    assert cli("status", "--json").json()["config"] == str(cli.config)
    verbose = cli("-v", "programme", "list")
    assert f"config {cli.config}; database sqlite:///{database}" in verbose.err


def test_shell_completion_completes_commands(cli: Cli, tmp_path: Path) -> None:
    env = {**cli.env, "_FBH_COMPLETE": "complete_bash", "COMP_WORDS": "fbh prog", "COMP_CWORD": "1"}
    done = subprocess.run([str(FBH)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["programme"], done
    # the real script: the shell is detected from the process's parents (forked, one more)
    script = replace(cli, forked=False)("--show-completion", "bash", check=False)
    assert "_fbh_completion" in script.out, script


def test_a_mistyped_command_gets_a_suggestion(cli: Cli) -> None:
    done = cli("programm", "list", check=False)
    assert done.code == 2
    assert done.err.startswith("error: ") and "Did you mean 'programme'?" in done.err
