"""Acceptance tests run the ``fbh`` command in processes of its own (tests/acceptance/fbhcli.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fbhcli import Cli, stop_fork_server, write_config


@pytest.fixture
def fresh_cli(tmp_path: Path) -> Cli:
    """The CLI in a folder with a config file and no database yet."""
    config = write_config(tmp_path, "sqlite:///var/fbh.sqlite3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    env["FBH_ACTOR"] = "acceptance"
    return Cli(home=tmp_path, config=config, env=env)


@pytest.fixture
def cli(fresh_cli: Cli, sqlite_template: Path) -> Cli:
    """The CLI in a folder whose database exists (as after ``fbh migrate``)."""
    return fresh_cli.create_database(sqlite_template)


@pytest.fixture(scope="session", autouse=True)
def _stop_fork_server() -> Iterator[None]:
    """Stop this test process's fork server (tests/acceptance/forkserver.py) at the end."""
    yield
    stop_fork_server()
