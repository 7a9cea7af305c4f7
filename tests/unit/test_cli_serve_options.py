"""`fbh serve` runs without typer only when its command line is the root options and `serve`
alone (engine/cli/daemon.py); every other form goes to typer, which parses and explains it."""

from __future__ import annotations

import pytest

from engine.cli.daemon import serve_options


@pytest.mark.parametrize(
    ("args", "environ", "expected"),
    [
        (["serve"], {}, (None, 0)),
        (["--config", "c.toml", "serve"], {}, ("c.toml", 0)),
        (["--config=c.toml", "serve"], {}, ("c.toml", 0)),
        (["-v", "--config", "c.toml", "-v", "serve"], {}, ("c.toml", 2)),
        (["-vv", "serve"], {}, (None, 2)),
        (["--verbose", "-vvv", "serve"], {}, (None, 4)),
        (["--config", "a.toml", "--config", "b.toml", "serve"], {}, ("b.toml", 0)),
        (["--config", "serve", "serve"], {}, ("serve", 0)),
        (["serve"], {"FBH_CONFIG": "env.toml"}, ("env.toml", 0)),
        (["serve"], {"FBH_CONFIG": ""}, (None, 0)),
        (["--config", "c.toml", "serve"], {"FBH_CONFIG": "env.toml"}, ("c.toml", 0)),
    ],
)
def test_the_root_options_and_serve_run_without_typer(
    args: list[str], environ: dict[str, str], expected: tuple[str | None, int]
) -> None:
    assert serve_options(args, environ) == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["status"],
        ["serve", "--help"],
        ["serve", "extra"],
        ["--help", "serve"],
        ["--version", "serve"],
        ["--config", "serve"],  # no value left for --config: typer's usage error
        ["--config", "", "serve"],
        ["--config=", "serve"],
        ["--config", "-v", "serve"],
        ["-x", "serve"],
        ["-vx", "serve"],
        ["--verbose=2", "serve"],
        ["--", "serve"],
        ["--conf", "c.toml", "serve"],
        ["--config", "caf\udce9.toml", "serve"],  # not UTF-8: typer's path refuses it
    ],
)
def test_every_other_form_goes_to_typer(args: list[str]) -> None:
    assert serve_options(args, {}) is None


def test_shell_completion_goes_to_typer() -> None:
    assert serve_options(["serve"], {"_FBH_COMPLETE": "bash_complete"}) is None
