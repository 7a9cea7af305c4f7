"""Running the installed ``fbh`` command as a subprocess, for the acceptance tests."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FBH = Path(sys.executable).with_name("fbh")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    home: Path
    config: Path
    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> Result:
        proc = subprocess.run(
            [str(FBH), "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.home,
            timeout=timeout,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and result.code != 0:
            raise AssertionError(f"fbh {' '.join(args)} exited {result.code}: {result.err}")
        return result

    def create_database(self) -> Cli:
        """Create the configured database, as ``fbh migrate`` does (here in this process: the
        tests that need a database start with one at less cost). Read commands never create
        one (docs/operations.md, "Upgrades")."""
        from engine.config.settings import load_settings
        from engine.store.store import Store

        Store.open(load_settings(self.config).database_url).dispose()
        return self

    def in_language(self, lang: str) -> Cli:
        """The same CLI with ``LANG=lang`` (the suite runs with English: tests/conftest.py)."""
        env = {k: v for k, v in self.env.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANG")}
        return Cli(self.home, self.config, env | {"LANG": lang})

    def danish(self) -> Cli:
        return self.in_language("da_DK.UTF-8")

    @property
    def maildir(self) -> Path:
        return self.home / "var" / "mail"


def write_config(home: Path, database_url: str, mail: str = "") -> Path:
    config = home / "config.toml"
    config.write_text(
        f"""
[engine]
workflows = "{REPO / "workflows"}"

[database]
url = "{database_url}"

[mail]
transport = "maildir"
maildir = "var/mail"
sender = "Fra bolig til hjem <fraboligtilhjem@bl.dk>"
lead = "Programleder <lead@bl.dk>"
{mail}
""",
        encoding="utf-8",
    )
    return config
