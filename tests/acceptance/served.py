"""Running ``fbh serve`` as a subprocess for the daemon's acceptance tests.

Tests wait on observable state (a log line, files in a Maildir, rows in the database) with a
deadline, never on a fixed sleep. Every process started here is killed at teardown.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fbhcli import FBH, REPO, Cli

SHIFTED = Path(__file__).with_name("fbh_shifted.py")


def write_daemon_config(
    home: Path,
    database_url: str,
    *,
    workflows: Path = REPO / "workflows",
    mail: str = 'transport = "maildir"\nmaildir = "var/mail"',
    extra: str = "",
) -> Path:
    config = home / "config.toml"
    config.write_text(
        f"""
[engine]
workflows = "{workflows}"

[database]
url = "{database_url}"

[mail]
sender = "Fra bolig til hjem <fraboligtilhjem@bl.dk>"
lead = "Programleder <lead@bl.dk>"
{mail}

{extra}
""",
        encoding="utf-8",
    )
    return config


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > seconds:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - began


@dataclass
class Served:
    """One ``fbh serve`` process; its stderr goes to ``log``."""

    proc: subprocess.Popen[bytes]
    log: Path
    handle: IO[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def wait_ready(self, seconds: float = 20) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"fbh serve exited {self.proc.returncode}: {self.text()}")
            return " ready: " in self.text()

        wait_until(ready, seconds, "fbh serve ready")

    def stop(self, seconds: float = 10) -> tuple[int, float]:
        """SIGTERM; returns the exit code and how long the exit took."""
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=seconds)
        self.handle.close()
        return code, time.monotonic() - began

    def kill(self) -> None:
        """``kill -9``."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.handle.close()

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if not self.handle.closed:
            self.handle.close()


@dataclass
class Daemons:
    """Starts daemons for one test and kills the ones still running at teardown."""

    started: list[Served] = field(default_factory=list)

    def start(
        self, cli: Cli, label: str, *, shifted: bool = False, args: Sequence[str] = ()
    ) -> Served:
        """``fbh --config CONFIG serve``, or ``fbh ARGS`` when ``args`` are given."""
        log = cli.home / f"serve-{label}.log"
        handle = log.open("ab")
        command = [str(FBH)] if not shifted else [sys.executable, str(SHIFTED)]
        proc = subprocess.Popen(
            [*command, *(args or ("--config", str(cli.config), "serve"))],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            env=cli.env,
            cwd=cli.home,
        )
        served = Served(proc, log, handle)
        self.started.append(served)
        return served

    def cleanup(self) -> None:
        for served in self.started:
            served.cleanup()


def daemons_fixture() -> Iterator[Daemons]:
    daemons = Daemons()
    yield daemons
    daemons.cleanup()


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    env["FBH_ACTOR"] = "acceptance"
    env.update(extra)
    return env


def message_ids(raw_messages: list[bytes]) -> list[str]:
    """The Message-ID of each raw message."""
    ids = []
    for raw in raw_messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        ids.append(str(message["Message-ID"]).strip())
    return ids


def kinds_in_maildir(maildir: Path) -> list[str]:
    found = []
    for folder in ("new", "cur"):
        for path in sorted((maildir / folder).glob("*")) if (maildir / folder).is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            found.append(str(message["X-Fbh-Kind"]))
    return found
