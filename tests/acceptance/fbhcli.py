"""Running the ``fbh`` command as a process of its own, for the acceptance tests.

``Cli`` runs each command in a new process: by default a fork of a Python that has imported
fbh's stack once (tests/acceptance/forkserver.py: the same ``main`` as the installed script,
at a fraction of the CPU), or the installed ``fbh`` script itself with
``FBH_TEST_CLI=binary``. With ``FBH_TEST_SHIFT_SECONDS`` in its environment the command runs
with its clock shifted (tests/acceptance/fbh_shifted.py). Tests about what happens before
``main`` (imports, the script, a terminal, signals) start the script with ``subprocess``.
"""

from __future__ import annotations

import json
import locale
import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fbhtest import copy_of_template

REPO = Path(__file__).resolve().parents[2]
FBH = Path(sys.executable).with_name("fbh")
FORKSERVER = Path(__file__).with_name("forkserver.py")
SHIFTED = Path(__file__).with_name("fbh_shifted.py")


def forked_by_default() -> bool:
    return os.environ.get("FBH_TEST_CLI", "fork") != "binary"


class ForkServer:
    """One tests/acceptance/forkserver.py per test process, started on first use."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="fbh-fork-"))
        self.path = self.folder / "socket"
        self.proc = subprocess.Popen(
            [sys.executable, str(FORKSERVER), str(self.path), str(FBH)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            cwd=self.folder,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline() != b"ready\n":
            raise RuntimeError(f"{FORKSERVER.name} did not start (exit {self.proc.wait()})")

    def run(
        self, argv: list[str], env: dict[str, str], cwd: Path, timeout: float
    ) -> tuple[int, str, str]:
        request = json.dumps({"argv": argv, "env": env, "cwd": str(cwd)}).encode() + b"\n"
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn,
        ):
            conn.connect(str(self.path))
            socket.send_fds(conn, [request], [0, out.fileno(), err.fileno()])
            conn.settimeout(timeout)
            with conn.makefile("rb") as reader:
                pid = int(reader.readline())
                try:
                    line = reader.readline()
                except TimeoutError:
                    os.kill(pid, 9)
                    raise subprocess.TimeoutExpired(["fbh", *argv], timeout) from None
            # no exit line: the child was killed (a negative code, as subprocess reports it)
            code = int(line) if line.strip() else -9
            return code, _text(out), _text(err)

    def stop(self) -> None:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(str(self.path))
                conn.sendall(b'{"stop": true}\n')
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.path.unlink(missing_ok=True)
        self.folder.rmdir()


def _text(file: Any) -> str:
    """The file's bytes as ``subprocess.run(text=True)`` returns them (newlines translated)."""
    file.seek(0)
    data: str = file.read().decode(locale.getpreferredencoding(False))
    return data.replace("\r\n", "\n").replace("\r", "\n")


_SERVER: list[ForkServer] = []


def fork_server() -> ForkServer:
    if not _SERVER or _SERVER[0].proc.poll() is not None:
        _SERVER[:] = [ForkServer()]
    return _SERVER[0]


def stop_fork_server() -> None:
    while _SERVER:
        _SERVER.pop().stop()


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
    forked: bool = forked_by_default()

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> Result:
        argv = ["--config", str(self.config), *args]
        if self.forked:
            result = Result(*fork_server().run(argv, self.env, self.home, timeout))
        else:
            # with a shifted clock: the script that shifts it (tests/acceptance/fbh_shifted.py)
            shifted = "FBH_TEST_SHIFT_SECONDS" in self.env
            proc = subprocess.run(
                [sys.executable, str(SHIFTED), *argv] if shifted else [str(FBH), *argv],
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

    def create_database(self, template: Path | None = None) -> Cli:
        """Create the configured database, as ``fbh migrate`` does (here in this process: the
        tests that need a database start with one at less cost; a SQLite file as a copy of
        ``template``, a migrated database, when given). Read commands never create one
        (docs/operations.md, "Upgrades")."""
        from engine.config.settings import load_settings
        from engine.store.store import Store

        url = load_settings(self.config).database_url
        if template is not None and url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            copy_of_template(template, path)
        else:
            Store.open(url).dispose()
        return self

    def in_language(self, lang: str) -> Cli:
        """The same CLI with ``LANG=lang`` (the suite runs with English: tests/conftest.py)."""
        env = {k: v for k, v in self.env.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANG")}
        return Cli(self.home, self.config, env | {"LANG": lang}, self.forked)

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
