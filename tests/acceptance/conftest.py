"""Acceptance tests run the installed ``fbh`` command as a subprocess."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fbhcli import Cli, write_config


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    config = write_config(tmp_path, "sqlite:///var/fbh.sqlite3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    env["FBH_ACTOR"] = "acceptance"
    return Cli(home=tmp_path, config=config, env=env)
