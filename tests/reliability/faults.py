"""Fault-injection helpers for tests/reliability: real parts only, and the counting.

* the daemon runs as the real ``fbh serve`` subprocess (the acceptance tests' helpers in
  ``tests/acceptance`` are reused: that folder is put on ``sys.path`` here);
* :class:`SmtpSwitch` is one SMTP port a test turns into an outage: nothing listening
  (refused), a listener that never greets (timeouts), or a real aiosmtpd with the knobs of
  ``tests/smtpserver.py`` (4xx, 5xx, drop in DATA, slow replies). Its handler is kept across
  restarts, so every message the server ever accepted is counted by Message-ID;
* :class:`PrivateCluster` is a PostgreSQL cluster of the test's own (``initdb``/``pg_ctl``),
  which a test may restart; the shared server at 127.0.0.1:5432 is never restarted;
* :class:`WallClock` is the wall clock of processes started with ``fbh_clock.py``: the test
  jumps it forwards and backwards while they run;
* :func:`delivery` compares what the outbox recorded with what the server received.

Nothing here sleeps to wait for a schedule: waits poll observable state with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

ACCEPTANCE = Path(__file__).resolve().parents[1] / "acceptance"
if str(ACCEPTANCE) not in sys.path:
    sys.path.insert(0, str(ACCEPTANCE))

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import SMTP, Envelope, Session  # noqa: E402
from fbhcli import FBH, REPO, Cli  # noqa: E402
from served import Daemons, Served, cli_env, wait_until, write_daemon_config  # noqa: E402
from smtpserver import HOST, SmtpTestServer, free_port  # noqa: E402

from engine.config.settings import WEEKDAYS, load_settings  # noqa: E402
from engine.domain.definitions import load_registry  # noqa: E402
from engine.domain.errors import StoreError  # noqa: E402
from engine.domain.model import Contact  # noqa: E402
from engine.services.facade import Fbh, NewProgramme  # noqa: E402
from engine.store.store import OutboxMessage, Store, Tx  # noqa: E402

__all__ = ["CPH", "REPO", "Cli", "Daemons", "Served", "wait_until"]  # with the helpers below

CPH = ZoneInfo("Europe/Copenhagen")
CLOCK_SCRIPT = Path(__file__).with_name("fbh_clock.py")
PER_PROGRAMME = 9  # due at once when a programme is created: 8 invites and the summary


# ----- fbh: configs, daemons, the database ---------------------------------------------------


def make_cli(home: Path, database_url: str, *, weekly_digest: bool = False, **config: str) -> Cli:
    """A CLI and config for ``home``; without ``weekly_digest`` the weekly digest is kept out
    of the test (:func:`digest_out_of_the_way`), so its counts do not depend on the weekday."""
    home.mkdir(parents=True, exist_ok=True)
    if not weekly_digest:
        config["extra"] = f"{config.get('extra', '')}\n{digest_out_of_the_way()}"
    cli = Cli(home=home, config=write_daemon_config(home, database_url, **config), env=cli_env())
    return cli.create_database()


def digest_out_of_the_way(now: datetime | None = None) -> str:
    """Config that keeps the weekly digests out of a burst whatever day the suite runs: a
    daemon started after this week's digest time catches up on it and queues a digest per
    consultant and one for the lead with the burst (the kill -9 burst was 126 or 141 messages
    by the weekday). ``daemon.catch_up.digest = "miss"`` stops the catch-up, and the digest
    time is three days from today, so it cannot fall due while a test runs."""
    today = (now or datetime.now(CPH)).weekday()
    return (
        f'[digest]\nweekday = "{WEEKDAYS[(today + 3) % 7]}"\n\n[daemon.catch_up]\ndigest = "miss"\n'
    )


def start_daemon(
    daemons: Daemons, cli: Cli, label: str, *, clock: WallClock | None = None, debug: bool = False
) -> Served:
    """``fbh serve`` (with ``clock``: under a wall clock the test can jump; with ``debug``:
    ``-vv``, which logs every APScheduler job run)."""
    log = cli.home / f"serve-{label}.log"
    handle = log.open("ab")
    command = [str(FBH)] if clock is None else [sys.executable, str(CLOCK_SCRIPT)]
    env = dict(cli.env, **(clock.env if clock else {}))
    proc = subprocess.Popen(
        [*command, "--config", str(cli.config), *(["-vv"] if debug else []), "serve"],
        stdout=subprocess.DEVNULL,
        stderr=handle,
        env=env,
        cwd=cli.home,
    )
    served = Served(proc, log, handle)
    daemons.started.append(served)
    return served


@contextlib.contextmanager
def open_fbh(cli: Cli, actor: str = "reliability") -> Iterator[Fbh]:
    """fbh in this process, on the daemon's database (another process, as the CLI would be)."""
    settings = load_settings(cli.config)
    store = Store.open(settings.database_url)
    try:
        yield Fbh(settings, store, load_registry(settings.workflows_dir), actor=actor)
    finally:
        store.dispose()


@contextlib.contextmanager
def read(cli: Cli) -> Iterator[Tx]:
    """A transaction on the daemon's database, cheap enough to poll (no migrations, no
    workflow definitions)."""
    store = Store.open(load_settings(cli.config).database_url, run_migrations=False)
    try:
        with store.transaction() as tx:
            yield tx
    finally:
        store.dispose()


def outbox(cli: Cli) -> list[OutboxMessage]:
    with read(cli) as tx:
        return tx.outbox.find()


def leader_pid(cli: Cli, timeout: float = 10.0) -> int | None:
    """The pid of the daemon that leads with a fresh heartbeat (what ``fbh status`` shows);
    None while nobody does, or while the database cannot be read."""
    try:
        with read(cli) as tx:
            rows = tx.daemons.find()
    except StoreError:
        return None
    fresh = datetime.now(UTC) - timedelta(seconds=timeout)
    leaders = [d.pid for d in rows if d.is_leader and d.seen_at >= fresh]
    return leaders[0] if leaders else None


def poll(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """``wait_until`` for conditions that read the database: every 0.2 s, not 0.05 s, so
    the polling does not compete with the daemon for the CPU."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > seconds:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.2)
    return time.monotonic() - began


def settled(cli: Cli, now: datetime | None = None) -> bool:
    """Every message that fell due by ``now`` is final (sent, failed or missed): none is in
    flight, none waits for a first try or a retry."""
    moment = now or datetime.now(UTC)
    try:
        rows = outbox(cli)
    except StoreError:
        return False  # the database is away (a restart under way)
    return not any(
        row.state == "sending" or (row.state == "pending" and row.due_at <= moment) for row in rows
    )


def next_monday(weeks_ahead: int = 3) -> date:
    today = datetime.now(CPH).date()
    return today + timedelta(days=7 * weeks_ahead - today.weekday())


def new_programme(i: int, start: date, workflow: str = "socialt-beredskab") -> NewProgramme:
    return NewProgramme(
        workflow=workflow,
        organisation=f"Boligorganisation {i} Ærø",
        municipality="Aarhus",
        consultant=Contact(f"Konsulent {i}", f"k{i}@bl.dk"),
        tovholder=Contact(f"Tovholder {i}", f"t{i}@org.dk"),
        start=start,
    )


def burst(cli: Cli, programmes: int, *, first: int = 0, now: datetime | None = None) -> int:
    """Create ``programmes`` programmes; returns how many messages that queued due at once
    (9 each: 8 invites and the tovholder's summary; their reminders lie ahead)."""
    moment = now or datetime.now(UTC)
    with open_fbh(cli) as fbh:
        with fbh.store.transaction() as tx:
            before = {row.id for row in tx.outbox.find()}
        for i in range(first, first + programmes):
            fbh.create_programme(new_programme(i, next_monday()), moment)
        with fbh.store.transaction() as tx:
            return sum(1 for r in tx.outbox.find() if r.id not in before and r.due_at <= moment)


# ----- SMTP ----------------------------------------------------------------------------------


@dataclass
class FaultyServer(SmtpTestServer):
    """The test server with one more knob: ``reply_delays`` delays the 250 reply after DATA,
    once the message is stored (the server accepted it; the client may time out waiting)."""

    reply_delays: dict[str, float] = field(default_factory=dict)
    after_data: Callable[[int], None] | None = None  # called with the count of messages stored

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if reply.startswith("250") and self.after_data is not None:
            self.after_data(len(self.messages))
        delays = [self.reply_delays.get(r.lower(), 0.0) for r in envelope.rcpt_tos]
        if reply.startswith("250") and max(delays, default=0.0) > 0:
            await asyncio.sleep(max(delays))
        return reply

    def clear(self) -> None:
        """Every knob back to a healthy server."""
        for knob in (self.rcpt_replies, self.rcpt_delays, self.data_replies, self.reply_delays):
            knob.clear()
        self.drop_in_data.clear()


class SmtpSwitch:
    """One SMTP port that a test switches between outages and a working aiosmtpd server."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server = FaultyServer(port=self.port)
        self._controller: Controller | None = None
        self._silent: socket.socket | None = None

    def mail(self, *, timeout: float = 5.0, extra: str = "") -> str:
        """The ``[mail]`` settings for fbh (plain SMTP to 127.0.0.1)."""
        return (
            f'transport = "smtp"\n{extra}\n\n[mail.smtp]\nhost = "{HOST}"\nport = {self.port}\n'
            f"starttls = false\ntimeout = {timeout}"
        )

    def up(self) -> FaultyServer:
        """A real aiosmtpd on the port; the same handler (and its messages) every time."""
        self.off()
        controller = Controller(
            self.server,
            hostname=HOST,
            port=self.port,
            server_hostname="smtp.test",
            ready_timeout=10.0,
        )
        controller.start()
        self._controller = controller
        return self.server

    def silent(self) -> None:
        """Accept TCP connections but never greet: clients time out."""
        self.off()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        sock.listen(128)
        self._silent = sock

    def off(self) -> None:
        """Nothing listens: connections are refused."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._silent is not None:
            self._silent.close()
            self._silent = None

    def received(self) -> Counter[str]:
        """How often the server accepted each Message-ID."""
        return Counter(message_id(m.data) for m in list(self.server.messages))


def message_id(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return str(parsed["Message-ID"]).strip()


def quiet(server: SmtpTestServer, seconds: float = 0.3, within: float = 5.0) -> None:
    """Wait until the server has accepted nothing new for ``seconds`` (a killed client's last
    message may still be in the server's hands)."""
    last, since = len(server.messages), time.monotonic()
    began = since
    while time.monotonic() - since < seconds:
        if time.monotonic() - began > within:
            raise AssertionError("the SMTP server does not settle")
        time.sleep(0.05)
        if len(server.messages) != last:
            last, since = len(server.messages), time.monotonic()


@dataclass
class Delivery:
    """What had to arrive against what arrived."""

    expected: set[str]  # Message-IDs of the rows the outbox says were sent
    received: Counter[str]
    lost: set[str] = field(init=False)
    extra: set[str] = field(init=False)  # received but not recorded as sent
    duplicates: Counter[str] = field(init=False)  # Message-ID → copies beyond the first

    def __post_init__(self) -> None:
        self.lost = self.expected - set(self.received)
        self.extra = set(self.received) - self.expected
        self.duplicates = Counter({k: n - 1 for k, n in self.received.items() if n > 1})


def delivery(cli: Cli, smtp: SmtpSwitch) -> Delivery:
    sent = {row.message_id for row in outbox(cli) if row.state == "sent"}
    return Delivery(sent, smtp.received())


# ----- a private PostgreSQL cluster ----------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


class ClusterUnavailable(Exception):
    """The private cluster cannot be started here (no binaries, no postgres user)."""


def _pg_binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/local/bin")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise ClusterUnavailable(f"no {name} binary (PostgreSQL server not installed)")


class PrivateCluster:
    """A PostgreSQL cluster of one test module: initdb in a temporary folder, a free port,
    listening on 127.0.0.1 only. As root it runs as the ``postgres`` OS user."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl_path = _pg_binary("initdb"), _pg_binary("pg_ctl")
        self.as_user: list[str] = []
        self.root = Path(tempfile.mkdtemp(prefix="fbh-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.restarts = 0
        try:
            if os.geteuid() == 0:  # PostgreSQL refuses to run as root
                self.as_user = self._postgres_user()
            self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "--no-sync", "-E", "UTF8", "--locale=C")  # fmt: skip
        except ClusterUnavailable:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _postgres_user(self) -> list[str]:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise ClusterUnavailable("running as root without runuser")
        try:
            shutil.chown(self.root, user="postgres")
        except LookupError as exc:
            raise ClusterUnavailable("running as root and there is no postgres user") from exc
        return [runuser, "-u", "postgres", "--"]

    @property
    def admin(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        proc = subprocess.run(
            [*self.as_user, *command], capture_output=True, text=True, timeout=60, check=False
        )
        if proc.returncode != 0:
            raise ClusterUnavailable(f"{Path(command[0]).name} failed: {proc.stderr.strip()}")

    def pg_ctl(self, action: str, *args: str) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c max_connections=50"
        )
        self._run(self.pg_ctl_path, action, "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", "30", "-o", options, *args)  # fmt: skip

    def start(self) -> None:
        self.pg_ctl("start")

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m fast``: every session is ended, the server comes back."""
        self.pg_ctl("restart", "-m", mode)
        self.restarts += 1

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode)

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return name

    def destroy(self) -> None:
        with contextlib.suppress(ClusterUnavailable):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def client_ports(pid: int) -> set[int]:
    """The local TCP ports of process ``pid``'s connections (Linux /proc)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def sessions(admin_conninfo: str, pid: int) -> list[str]:
    """The application names of process ``pid``'s server sessions."""
    ports = client_ports(pid)
    if not ports:
        return []
    with psycopg.connect(admin_conninfo, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT application_name FROM pg_stat_activity WHERE client_port = ANY(%s) "
            "AND client_addr IS NOT NULL",
            (sorted(ports),),
        ).fetchall()
    return sorted(name for (name,) in rows)


def terminate_backends(admin_conninfo: str, pid: int) -> int:
    """``pg_terminate_backend`` every server session of process ``pid``; returns how many."""
    ports = client_ports(pid)
    if not ports:
        return 0
    with psycopg.connect(admin_conninfo, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE client_port = ANY(%s) AND client_addr IS NOT NULL",
            (sorted(ports),),
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)


# ----- a wall clock the test can jump ------------------------------------------------------


class WallClock:
    """The wall clock of the processes started with ``fbh_clock.py`` (``FBH_TEST_CLOCK_FILE``).

    It ticks at the normal rate from a shift the test sets; :meth:`jump` moves it forwards or
    backwards while they run, and waits until each given process has applied the jump.
    """

    def __init__(self, folder: Path, start: datetime) -> None:
        self.path = folder / "clock.shift"
        self.shift = 0.0
        self._write((start - datetime.now(UTC)).total_seconds())

    @property
    def env(self) -> dict[str, str]:
        return {"FBH_TEST_CLOCK_FILE": str(self.path)}

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.shift)

    def _write(self, shift: float) -> None:
        self.shift = shift
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(repr(shift), encoding="ascii")
        scratch.replace(self.path)

    def jump(self, delta: timedelta, *processes: Served) -> None:
        self._write(self.shift + delta.total_seconds())
        for served in processes:
            ack = self.path.with_name(f"{self.path.name}.{served.pid}")

            def applied(ack: Path = ack) -> bool:
                return ack.exists() and ack.read_text("ascii") == repr(self.shift)

            wait_until(applied, 10, f"pid {served.pid} applies the clock jump")

    def set(self, moment: datetime, *processes: Served) -> None:
        self.jump(moment - self.now(), *processes)
