"""Running fbh and the peers as processes for the scheduling benchmarks, and the peers'
seeded templates (made once, copied per run, like :mod:`bench.seed`'s).

A :class:`Process` reads the child's stderr (or stdout) line by line in a thread, copies it
to a log file, and notes the moment a wanted line arrives, so start-up is timed when the
line is written, not when a poll happens to look.
"""

from __future__ import annotations

import compileall
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from bench import harness, seed
from bench.peers import aps, poller, procr

FBH = Path(sys.executable).with_name("fbh")
PEER_VERSION = "1"


class Process:
    """A child process whose output lines are logged and watched."""

    def __init__(
        self,
        command: list[str],
        log: Path,
        *,
        cwd: Path,
        stream: str = "stderr",
        extra_env: dict[str, str] | None = None,
    ):
        self.log = log
        self.lines: list[tuple[float, str]] = []  # (time.time() when read, line)
        self._handle = log.open("w", encoding="utf-8")
        self._seen = threading.Condition()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")} | (extra_env or {})
        self.spawned = time.time()
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stream == "stderr" else None,
            cwd=cwd,
            env=env,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        pipe = self.proc.stderr if stream == "stderr" else self.proc.stdout
        assert pipe is not None
        self._reader = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._reader.start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            at = time.time()
            self._handle.write(line)
            self._handle.flush()
            with self._seen:
                self.lines.append((at, line))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_line(
        self, predicate: Callable[[str], bool], seconds: float, what: str
    ) -> tuple[float, str]:
        """The first line for which ``predicate`` holds, and when it was read."""
        deadline = time.monotonic() + seconds
        with self._seen:
            while True:
                for at, line in self.lines:
                    if predicate(line):
                        return at, line
                if self.proc.poll() is not None and not self._reader.is_alive():
                    code = self.proc.returncode
                    raise SystemExit(f"{what}: the process exited {code}; see {self.log}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"{what}: not within {seconds} s; see {self.log}")
                self._seen.wait(min(left, 0.5))

    def stop(self, seconds: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        self._handle.close()
        return code

    def wait(self, seconds: float) -> int:
        code = self.proc.wait(timeout=seconds)
        self._reader.join(timeout=5)
        self._handle.close()
        return code


def write_fbh_config(
    home: Path, url: str, *, fsync: bool = True, transport: str = "maildir"
) -> Path:
    """``transport``: ``maildir`` (into ``home/mail``) or ``null`` (nothing written)."""
    config = home / "config.toml"
    config.write_text(
        f"""
[engine]
workflows = "{seed.REPO / "workflows"}"

[database]
url = "{url}"

[mail]
transport = "{transport}"
maildir = "{home / "mail"}"
sender = "Fra bolig til hjem <fraboligtilhjem@bl.dk>"
lead = "Programleder <programleder@bl.dk>"
maildir_fsync = {"true" if fsync else "false"}
""",
        encoding="utf-8",
    )
    return config


def spawn_fbh(
    home: Path,
    url: str,
    *,
    extra_env: dict[str, str] | None = None,
    fsync: bool = True,
    transport: str = "maildir",
) -> Process:
    """``fbh serve`` (the real CLI) on ``url``, delivering to ``home/mail`` (or, with the
    ``null`` transport, nowhere)."""
    config = write_fbh_config(home, url, fsync=fsync, transport=transport)
    command = [str(FBH), "--config", str(config), "serve"]
    # The installed script imports fbh from the editable install, this checkout: a
    # `--baseline` run (bench/harness.py, in a checkout of another revision) must run that
    # revision's fbh, so its packages come first.
    env = {"PYTHONPATH": str(seed.REPO)} | (extra_env or {})
    return Process(command, home / "serve.log", cwd=home, extra_env=env)


PACKAGES = ("engine", "notifications")


@contextlib.contextmanager
def byte_compiled() -> Iterator[None]:
    """Within the block, fbh's own packages have their ``.pyc`` files, as after ``pip install``
    of a wheel (and as every third-party package the peers import has). A checkout installed
    with ``pip install -e`` has none until Python writes them on import, and never with
    ``PYTHONDONTWRITEBYTECODE=1``: then every start compiles fbh's modules from source. The
    files written here are removed afterwards, so that later benchmarks (``bench.cli_speed``)
    run as they did."""
    roots = [seed.REPO / package for package in (*PACKAGES, "bench")]  # bench: the peers' code
    before = {path for root in roots for path in root.rglob("*.pyc")}
    for root in roots:
        compileall.compile_dir(root, quiet=1)
    try:
        yield
    finally:
        for path in {path for root in roots for path in root.rglob("*.pyc")} - before:
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # only when empty
                path.parent.rmdir()


def source_copy(dest: Path) -> Path:
    """fbh's packages copied to ``dest`` without ``.pyc`` files: on ``PYTHONPATH`` (ahead of the
    editable install) with ``PYTHONDONTWRITEBYTECODE=1``, a start compiles them from source,
    as a start from an editable checkout in such an environment does."""
    for package in PACKAGES:
        shutil.copytree(
            seed.REPO / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return dest


def fbh_ready(process: Process, seconds: float) -> float:
    """When ``fbh serve`` logged its ``ready`` line (time.time())."""
    at, _ = process.wait_line(lambda line: " ready: " in line, seconds, "fbh serve ready")
    return at


def fbh_rendered(process: Process, seconds: float) -> tuple[float, int]:
    """When ``fbh serve`` logged that its render-ahead pass rendered messages, and how many
    (engine/daemon/prerender.py)."""
    at, line = process.wait_line(lambda line: "ahead of their due time" in line, seconds, "render")
    return at, int(line.split(" rendered ", 1)[1].split()[0])


def fbh_discarded(process: Process) -> int:
    """How many messages ``fbh serve`` with the ``null`` transport has logged as recorded sent
    and delivered nowhere (notifications/transports/null.py)."""
    marker = 'transport "null": '
    return sum(
        int(line.split(marker, 1)[1].split()[0])
        for _, line in list(process.lines)
        if marker in line
    )


def peer_started(process: Process, seconds: float, what: str) -> dict[str, Any]:
    """The JSON line a peer prints when it has started."""
    _, line = process.wait_line(lambda line: line.startswith("{"), seconds, what)
    started: dict[str, Any] = json.loads(line)
    return started


def fresh_dir(path: Path) -> Path:
    """``path``, empty: the previous run's is deleted after the last run (harness.discard)."""
    harness.discard(path)
    path.mkdir(parents=True)
    return path


# ----- the payload and the peers' templates --------------------------------------------------


def sample_payload(milestones: int, outbox: int) -> dict[str, Any]:
    """The payload of a pending fbh reminder in the seeded template: what every peer job
    carries and renders."""
    return seed.sqlite_payload(seed.sqlite_template(milestones, outbox))


def _key(total: int, payload: dict[str, Any]) -> str:
    raw = json.dumps([PEER_VERSION, total, payload], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:10]


def aps_template(total: int, payload: dict[str, Any], *, log: Any = print) -> Path:
    seed.WORK.mkdir(parents=True, exist_ok=True)
    path = seed.WORK / f"aps-{_key(total, payload)}.sqlite3"
    if path.exists() and seed._young(path.stat().st_mtime):
        return path
    log(f"filling the APScheduler job store {path} with {total} jobs …")
    partial = path.with_suffix(".partial")
    aps.make_template(partial, total, payload)
    os.replace(partial, path)
    return path


def procr_template(total: int, payload: dict[str, Any], *, log: Any = print) -> str:
    def build(url: str) -> None:
        log(f"deferring {total} procrastinate jobs into {seed.redact(url)} …")
        procr.make_template(seed.libpq(url), total, payload)

    return seed.cached_database(f"bench_procr_tpl_{_key(total, payload)}", build)


def poller_template(total: int, payload: dict[str, Any], *, log: Any = print) -> str:
    def build(url: str) -> None:
        log(f"filling the poller's table in {seed.redact(url)} with {total} rows …")
        poller.make_template(seed.libpq(url), total, payload)

    return seed.cached_database(f"bench_poller_tpl_{_key(total, payload)}", build)
