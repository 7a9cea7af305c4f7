"""``fbh serve`` as a real subprocess: readiness and SIGTERM, picking up CLI changes, a kill -9
in the middle of a burst, two daemons on PostgreSQL with a failover, and downtime across a
reminder's time. Measured numbers are printed (``pytest -s``) and reported in
docs/operations.md."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fbhcli import Cli, Result
from served import (
    SHIFTED,
    Daemons,
    Served,
    cli_env,
    daemons_fixture,
    kinds_in_maildir,
    message_ids,
    wait_until,
    write_daemon_config,
)
from smtpserver import SmtpTestServer, start_smtp_server

from engine.cli.daemon import serve_options
from engine.config.settings import Settings, load_settings
from engine.domain.definitions import load_registry
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.store.store import Store

CPH = ZoneInfo("Europe/Copenhagen")
PER_PROGRAMME = 9  # due at once: 4 meetings × 2 invites, and the tovholder's summary


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    yield from daemons_fixture()


@pytest.fixture
def smtp() -> Iterator[SmtpTestServer]:
    server, controller = start_smtp_server()
    yield server
    controller.stop()


def make_cli(home: Path, database_url: str, **config: str) -> Cli:
    home.mkdir(parents=True, exist_ok=True)
    return Cli(home=home, config=write_daemon_config(home, database_url, **config), env=cli_env())


def sqlite_cli(tmp_path: Path, **config: str) -> Cli:
    return make_cli(tmp_path, "sqlite:///var/fbh.sqlite3", **config)


def smtp_mail(server: SmtpTestServer) -> str:
    return (
        f'transport = "smtp"\n\n[mail.smtp]\nhost = "{server.host}"\n'
        f"port = {server.port}\nstarttls = false"
    )


def next_monday(weeks_ahead: int = 3) -> date:
    today = datetime.now(CPH).date()
    return today + timedelta(days=7 * weeks_ahead - today.weekday())


def create_args(org: str, index: int = 0) -> list[str]:
    return [
        "programme",
        "create",
        "--workflow",
        "socialt-beredskab",
        "--org",
        org,
        "--municipality",
        "Helsingør",
        "--consultant",
        f"Konsulent {index} <k{index}@bl.dk>",
        "--tovholder",
        f"Tovholder {index} <t{index}@org.dk>",
        "--start",
        next_monday().isoformat(),
    ]


def open_fbh(cli: Cli) -> tuple[Fbh, Settings]:
    settings = load_settings(cli.config)
    store = Store.open(settings.database_url)
    return Fbh(settings, store, load_registry(settings.workflows_dir), actor="test"), settings


def burst(cli: Cli, programmes: int) -> int:
    """Queue ``programmes × 9`` messages due now, in-process; returns how many."""
    fbh, _ = open_fbh(cli)
    try:
        now = datetime.now(UTC)
        for i in range(programmes):
            fbh.create_programme(
                NewProgramme(
                    workflow="socialt-beredskab",
                    organisation=f"Boligorganisation {i}",
                    municipality="Aarhus",
                    consultant=Contact(f"Konsulent {i}", f"k{i}@bl.dk"),
                    tovholder=Contact(f"Tovholder {i}", f"t{i}@org.dk"),
                    start=next_monday(),
                ),
                now,
            )
        with fbh.store.transaction() as tx:
            return sum(1 for r in tx.outbox.find() if r.due_at <= now)  # a daemon may be sending
    finally:
        fbh.store.dispose()


def programme_mail(maildir: Path) -> Counter[str]:
    """The kinds of mail in the Maildir, without weekly digests (a daemon that starts after
    this week's digest time queues them at once: catch-up)."""
    return Counter(k for k in kinds_in_maildir(maildir) if not k.startswith("digest_"))


def sent_ids(cli: Cli) -> set[str]:
    """The Message-IDs of every row the outbox records as sent."""
    fbh, _ = open_fbh(cli)
    try:
        with fbh.store.transaction() as tx:
            return {r.message_id for r in tx.outbox.find(states=["sent"])}
    finally:
        fbh.store.dispose()


def sent_in_log(text: str) -> int:
    marker = "engine.daemon.delivery: sent "
    return sum(
        int(line.split(marker)[1].split()[0]) for line in text.splitlines() if marker in line
    )


def outbox_states(cli: Cli) -> Counter[str]:
    fbh, _ = open_fbh(cli)
    try:
        with fbh.store.transaction() as tx:
            return Counter(r.state for r in tx.outbox.find())
    finally:
        fbh.store.dispose()


# ----- one daemon on SQLite ------------------------------------------------------------------


def test_serve_is_ready_reports_status_and_stops_on_sigterm(
    tmp_path: Path, daemons: Daemons
) -> None:
    cli = sqlite_cli(tmp_path)
    served = daemons.start(cli, "one")
    served.wait_ready()

    status = cli("status", "--json").json()
    assert status["alive"] == 1
    assert status["leader"] == status["daemons"][0]["name"]
    assert str(served.pid) in status["leader"]

    second = cli("serve", check=False)
    assert second.code == 2
    assert "error: another fbh serve" in second.err
    assert second.err.strip().splitlines()[-1].startswith("error: ")

    code, took = served.stop()
    assert (code, took < 10) == (0, True)
    assert "stopped" in served.text()
    assert cli("status", "--json").json()["alive"] == 0


# A config file named "-x": `--config=-x serve` is a form the typer-free path leaves to typer
# (engine/cli/daemon.py), and `--config ./-x serve` names the same file on that path.
FAST, TYPER = ("--config", "./-x", "serve"), ("--config=-x", "serve")


def dash_cli(home: Path, database_url: str) -> Cli:
    cli = make_cli(home, database_url)
    return Cli(home=home, config=cli.config.rename(home / "-x"), env=cli.env)


def serve_and_deliver(cli: Cli, daemons: Daemons, args: tuple[str, ...]) -> Served:
    """A programme's first mail, queued before ``fbh ARGS`` starts, delivered; then SIGTERM."""
    cli(*create_args("Boligselskabet Østervang"))
    served = daemons.start(cli, "serve", args=args)
    served.wait_ready()
    wait_until(lambda: programme_mail(cli.maildir).total() >= PER_PROGRAMME, 10, "delivered")
    code, took = served.stop()
    assert (code, took < 10) == (0, True)
    assert served.text().rstrip().endswith("engine.daemon.runner: stopped")
    return served


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_serve_through_typer_reaches_ready_delivers_and_stops(
    tmp_path: Path, daemons: Daemons, request: pytest.FixtureRequest, backend: str
) -> None:
    assert serve_options(TYPER, cli_env()) is None  # typer parses it (engine/cli/main.py)
    url = "sqlite:///var/fbh.sqlite3"
    if backend == "postgres":
        url = request.getfixturevalue("pg_schema_url")
    cli = dash_cli(tmp_path, url)
    serve_and_deliver(cli, daemons, TYPER)
    assert programme_mail(cli.maildir) == {"invite": 8, "programme_summary": 1}


def test_serve_without_typer_and_through_typer_do_the_same(
    tmp_path: Path, daemons: Daemons
) -> None:
    """The same config in two homes, one served each way: the same lines up to ``ready`` and
    the same mail."""
    assert serve_options(FAST, cli_env()) == ("./-x", 0)
    runs: dict[str, tuple[list[str], list[tuple[str, str, str]]]] = {}
    for label, args in (("fast", FAST), ("typer", TYPER)):
        home = tmp_path / label
        cli = dash_cli(home, "sqlite:///var/fbh.sqlite3")
        text = serve_and_deliver(cli, daemons, args).text().replace(str(home), "HOME")
        lines = [line.split(" ", 2)[2] for line in text.splitlines()]  # without the time
        upto_ready = lines[: next(i for i, line in enumerate(lines) if " ready: " in line) + 1]
        upto_ready[-1] = re.sub(r"daemon:\S+:\d+:[0-9a-f]+", "NAME", upto_ready[-1])
        runs[label] = (upto_ready, sorted(mail_headers(cli.maildir)))
    assert runs["fast"] == runs["typer"]
    lines, mail = runs["fast"]
    assert (
        lines[0]
        == "INFO engine.cli.common: config HOME/-x; database sqlite:///HOME/var/fbh.sqlite3"
    )
    assert len(mail) == PER_PROGRAMME


def mail_headers(maildir: Path) -> list[tuple[str, str, str]]:
    """Kind, To and Subject of each programme mail (the weekly digests left out, as above)."""
    found = []
    for path in (maildir / "new").glob("*"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        kind = str(message["X-Fbh-Kind"])
        if not kind.startswith("digest_"):
            found.append((kind, str(message["To"]), str(message["Subject"])))
    return found


def pickup(cli: Cli, daemons: Daemons, label: str) -> float:
    """Seconds from the end of ``fbh programme create`` until its mail is delivered."""
    served = daemons.start(cli, label)
    served.wait_ready()
    began = time.monotonic()
    cli(*create_args("Boligselskabet Østervang"))
    done = time.monotonic()
    wait_until(lambda: programme_mail(cli.maildir).total() >= PER_PROGRAMME, 10, "delivered")
    latency = time.monotonic() - done
    whole = time.monotonic() - began
    assert served.stop()[0] == 0
    assert programme_mail(cli.maildir) == {"invite": 8, "programme_summary": 1}
    print(f"\npickup ({label}): {latency:.2f} s after the CLI exited, {whole:.2f} s in all")
    return latency


def test_a_running_daemon_picks_up_a_cli_change_on_sqlite(tmp_path: Path, daemons: Daemons) -> None:
    assert pickup(sqlite_cli(tmp_path), daemons, "sqlite") < 5


@pytest.mark.postgres
def test_a_running_daemon_picks_up_a_cli_change_on_postgres(
    tmp_path: Path, daemons: Daemons, pg_schema_url: str
) -> None:
    assert pickup(make_cli(tmp_path, pg_schema_url), daemons, "postgres") < 5


# ----- crashes -------------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_mid_burst_loses_nothing_and_duplicates_at_most_a_batch(
    tmp_path: Path, daemons: Daemons, smtp: SmtpTestServer
) -> None:
    cli = sqlite_cli(tmp_path, mail=smtp_mail(smtp))
    total = burst(cli, 34)
    assert total >= 300
    for i in range(34):  # a slow server, so the kill lands mid-batch
        smtp.rcpt_delays[f"k{i}@bl.dk"] = smtp.rcpt_delays[f"t{i}@org.dk"] = 0.01

    first = daemons.start(cli, "first")
    first.wait_ready()
    wait_until(lambda: len(smtp.messages) >= total // 3, 60, "a third delivered")
    first.kill()
    at_kill = len(smtp.messages)
    states = outbox_states(cli)

    second = daemons.start(cli, "second")
    second.wait_ready()
    wait_until(lambda: outbox_states(cli)["sent"] >= total, 90, "everything sent")
    assert second.stop()[0] == 0

    ids = message_ids([m.data for m in smtp.messages])
    duplicates = len(ids) - len(set(ids))
    assert set(ids) == sent_ids(cli)  # nothing lost: every row is sent, and was received
    after = outbox_states(cli)
    assert after["sending"] == after["failed"] == after["missed"] == 0
    assert duplicates <= 20  # daemon.batch_size: only the batch in flight is sent again
    assert ("sending again" in second.text()) == (states["sending"] > 0)
    print(
        f"\nkill -9 mid-burst: {len(set(ids))} messages, {at_kill} received before the kill "
        f"({states['sending']} in flight), {duplicates} duplicate(s) after the restart"
    )


# ----- two daemons on PostgreSQL -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
def test_two_daemons_share_the_work_without_duplicates_and_fail_over(
    tmp_path: Path, daemons: Daemons, smtp: SmtpTestServer, pg_schema_url: str
) -> None:
    cli = make_cli(tmp_path, pg_schema_url, mail=smtp_mail(smtp))
    first = daemons.start(cli, "a")
    first.wait_ready()
    second = daemons.start(cli, "b")
    second.wait_ready()
    assert "leader" in first.text().split(" ready: ")[1].splitlines()[0]

    total = burst(cli, 20)
    wait_until(lambda: len(smtp.messages) >= total, 60, "burst delivered")
    # Every row recorded as sent means no claim is in flight: a duplicate, if there were one,
    # has arrived by now (no fixed sleep).
    wait_until(lambda: len(sent_ids(cli)) >= total, 60, "every row recorded as sent")
    ids = message_ids([m.data for m in smtp.messages])
    assert len(ids) == len(set(ids))
    assert set(ids) == sent_ids(cli)
    shares = [sent_in_log(first.text()), sent_in_log(second.text())]
    print(f"\ntwo daemons: {total} messages, no duplicates; sent by each: {shares}")

    fbh, _ = open_fbh(cli)
    try:
        first.kill()
        killed = time.monotonic()

        def second_leads() -> bool:
            with fbh.store.transaction() as tx:
                return any(d.is_leader and f":{second.pid}:" in d.name for d in tx.daemons.find())

        wait_until(second_leads, 15, "takeover")
        takeover = time.monotonic() - killed
    finally:
        fbh.store.dispose()
    status = cli("status", "--json").json()
    assert str(second.pid) in status["leader"]
    print(f"takeover after kill -9 of the leader: {takeover:.2f} s")
    assert takeover < 15

    before = len(smtp.messages)
    cli(*create_args("Boligselskabet Østervang", 99))
    wait_until(lambda: len(smtp.messages) >= before + PER_PROGRAMME, 10, "survivor delivers")
    assert second.stop()[0] == 0


# ----- downtime across a reminder's time ----------------------------------------------------

SHORT_WORKFLOW = """
[workflow]
key = "kort-test"
version = "1.0"
title = "Kort testforløb"
weeks = 1

[workflow.budget]
role = "tovholder"
min = "1h"
max = "2h"

[[milestones]]
key = "moede"
title = "Kort møde"
kind = "meeting"
weeks = 0
attendees = ["consultant", "tovholder"]
time = "10:00"
duration = "1h"
location = "Online"

[[milestones.reminders]]
before = "2m"
to = ["consultant"]
"""
MEETING = datetime(2027, 1, 11, 10, 0, tzinfo=CPH)  # a Monday; its reminder is due 09:58
REMINDER_DUE = MEETING - timedelta(minutes=2)


def shifted(cli: Cli, *args: str) -> Result:
    proc = subprocess.run(
        [sys.executable, str(SHIFTED), "--config", str(cli.config), *args],
        capture_output=True,
        text=True,
        env=cli.env,
        cwd=cli.home,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.slow
def test_downtime_across_a_reminder_follows_the_catch_up_policy(
    tmp_path: Path, daemons: Daemons
) -> None:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "kort-test.toml").write_text(SHORT_WORKFLOW, encoding="utf-8")
    # every process of this test lives at 09:57:45 on MEETING's day, a few seconds from now
    shift = (REMINDER_DUE - timedelta(seconds=15) - datetime.now(UTC)).total_seconds()
    clis = {}
    for policy in ("miss", "send"):
        extra = f'[daemon.catch_up]\nreminder = "{policy}"\nreminder_grace_minutes = 0.05  # 3 s\n'
        cli = make_cli(
            tmp_path / policy, "sqlite:///var/fbh.sqlite3", workflows=workflows, extra=extra
        )
        cli.env["FBH_TEST_SHIFT_SECONDS"] = str(shift)
        clis[policy] = cli
        shifted(
            cli,
            "programme",
            "create",
            "--workflow",
            "kort-test",
            "--org",
            "Østervang",
            "--municipality",
            "Helsingør",
            "--consultant",
            "Anne <anne@bl.dk>",
            "--tovholder",
            "Søren <soren@oestervang.dk>",
            "--start",
            "2027-01-11",
        )

    # the daemons are down while the reminder falls due, and for its grace of 3 s after
    back = REMINDER_DUE + timedelta(seconds=5)
    wait_until(lambda: datetime.now(UTC) + timedelta(seconds=shift) >= back, 30, "downtime")
    served = {p: daemons.start(cli, p, shifted=True) for p, cli in clis.items()}
    for policy, cli in clis.items():
        served[policy].wait_ready()
        expected = {"miss": 3, "send": 4}[policy]
        wait_until(lambda c=cli, n=expected: programme_mail(c.maildir).total() >= n, 10, policy)
        assert served[policy].stop()[0] == 0

    missed, sent = clis["miss"], clis["send"]
    assert programme_mail(missed.maildir) == {"invite": 2, "programme_summary": 1}
    rows = json.loads(shifted(missed, "outbox", "list", "--json").out)
    assert {(r["kind"], r["state"]) for r in rows if not r["kind"].startswith("digest_")} == {
        ("invite", "sent"),
        ("programme_summary", "sent"),
        ("reminder", "missed"),
    }
    events = json.loads(shifted(missed, "programme", "show", "1", "--events", "--json").out)
    missed_events = [e for e in events["events"] if e["event"] == "missed"]
    assert [e["data"]["kind"] for e in missed_events] == ["reminder"]
    assert "late (grace 3 s)" in missed_events[0]["data"]["reason"]
    assert programme_mail(sent.maildir) == {
        "invite": 2,
        "programme_summary": 1,
        "reminder": 1,
    }


def test_serve_with_the_null_transport_warns_and_delivers_nowhere(
    tmp_path: Path, daemons: Daemons
) -> None:
    cli = sqlite_cli(tmp_path, mail='transport = "null"\nmaildir = "var/mail"')
    served = daemons.start(cli, "null")
    served.wait_ready()
    cli(*create_args("Boligselskabet Østervang"))

    wait_until(lambda: sent_in_log(served.text()) >= PER_PROGRAMME, 10, "recorded sent")
    assert served.stop()[0] == 0
    text = served.text()
    warning = text.index('mail.transport = "null": messages are recorded as sent')
    assert "WARNING" in text[:warning].splitlines()[-1] + text[warning:].splitlines()[0]
    assert warning < text.index(" ready: ")  # said at start
    assert "delivering via NullTransport" in text
    assert outbox_states(cli)["sent"] >= PER_PROGRAMME
    assert not cli.maildir.exists()
