"""Acceptance tests run the installed ``fbh`` command as a subprocess."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fbhcli import Cli, write_config


@pytest.fixture
def fresh_cli(tmp_path: Path) -> Cli:
    """The CLI in a folder with a config file and no database yet."""
    config = write_config(tmp_path, "sqlite:///var/fbh.sqlite3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    env["FBH_ACTOR"] = "acceptance"
    return Cli(home=tmp_path, config=config, env=env)


@pytest.fixture
def cli(fresh_cli: Cli) -> Cli:
    """The CLI in a folder whose database exists (as after ``fbh migrate``)."""
    return fresh_cli.create_database()
