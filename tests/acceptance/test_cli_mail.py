"""Invites through the real CLI into the Maildir, read back with ``mailbox`` and vobject."""

from __future__ import annotations

import email.policy
import mailbox
import socket
from collections import Counter
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import vobject
from fbhcli import Cli

CPH = ZoneInfo("Europe/Copenhagen")


def next_monday(weeks: int = 2) -> date:
    today = datetime.now(CPH).date()  # the CLI reads the real clock
    return today + timedelta(days=7 - today.weekday() + 7 * (weeks - 1))


def read_maildir(cli: Cli) -> list[EmailMessage]:
    box = mailbox.Maildir(cli.maildir, factory=None, create=False)
    parsed = []
    for key in sorted(box.keys()):
        with box.get_file(key) as handle:
            data = handle.read()
        parsed.append(email.message_from_bytes(data, policy=email.policy.default))
    return parsed


def invites(messages: list[EmailMessage]) -> list[dict[str, Any]]:
    found = []
    for message in messages:
        for part in message.walk():
            if part.get_content_type() != "text/calendar":
                continue
            calendar = vobject.readOne(part.get_content())
            assert part.get_param("method") == calendar.method.value
            found.append(
                {
                    "to": message["To"].addresses[0].addr_spec,
                    "method": calendar.method.value,
                    "uid": calendar.vevent.uid.value,
                    "sequence": int(calendar.vevent.sequence.value),
                }
            )
    return found


def test_create_reschedule_cancel_through_the_cli(cli: Cli) -> None:
    start = next_monday()
    doc = cli(
        "programme",
        "create",
        "--workflow",
        "socialt-beredskab",
        "--org",
        "Bolig Ærøskøbing",
        "--municipality",
        "Ærø",
        "--consultant",
        "Anne Konsulent <anne@bl.dk>",
        "--tovholder",
        "Søren Ø <soren@aeroe.dk>",
        "--start",
        start.isoformat(),
        "--json",
    ).json()
    pid = str(doc["id"])
    assert "sent" in cli("outbox", "send").out
    first = invites(read_maildir(cli))
    meetings = [m for m in doc["milestones"] if m["kind"] == "meeting"]
    pairs = Counter((i["to"], i["uid"]) for i in first)
    assert set(pairs.values()) == {1} and len(pairs) == 2 * len(meetings)
    assert {i["method"] for i in first} == {"REQUEST"}
    subjects = [m["Subject"] for m in read_maildir(cli)]
    assert any("Ærøskøbing" in s for s in subjects)

    again = cli("outbox", "send", "--json").json()
    assert again == {"sent": 0, "retry": 0, "failed": 0}

    workshop = next(m for m in doc["milestones"] if m["key"] == "workshop")
    new_day = date.fromisoformat(workshop["start"][:10]) + timedelta(days=1)
    cli("milestone", "reschedule", pid, "workshop", "--start", f"{new_day}T09:00")
    cli("outbox", "send")
    updates = invites(read_maildir(cli))[len(first) :]
    assert sorted(u["to"] for u in updates) == ["anne@bl.dk", "soren@aeroe.dk"]
    assert {u["sequence"] for u in updates} == {1}
    assert len({u["uid"] for u in updates}) == 1
    assert updates[0]["uid"] in {i["uid"] for i in first}

    cli("programme", "cancel", pid)
    cli("outbox", "send")
    cancels = invites(read_maildir(cli))[len(first) + len(updates) :]
    assert {c["method"] for c in cancels} == {"CANCEL"}
    assert Counter((c["to"], c["uid"]) for c in cancels) == Counter(pairs)
    listed = cli("outbox", "list", "--json").json()
    assert {r["state"] for r in listed} <= {"sent", "cancelled"}
    assert cli("outbox", "send", "--json").json()["sent"] == 0


def closed_port() -> int:
    """A local TCP port nothing listens on (bound once, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_mail_server_exits_3_and_keeps_the_mail(cli: Cli) -> None:
    text = cli.config.read_text().replace('transport = "maildir"', 'transport = "smtp"')
    port = closed_port()
    cli.config.write_text(
        text + f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\n'
    )
    cli(
        "programme",
        "create",
        "--workflow",
        "socialt-beredskab",
        "--org",
        "Bolig Nord",
        "--municipality",
        "Aalborg",
        "--consultant",
        "Anne Konsulent <anne@bl.dk>",
        "--tovholder",
        "Tove Holder <tove@nord.dk>",
        "--start",
        next_monday().isoformat(),
    )
    due = [r for r in cli("outbox", "list", "--json").json() if r["state"] == "pending"]
    result = cli("outbox", "send", check=False)
    assert result.code == 3, result
    errors = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.err.endswith(errors[0] + "\n"), result.err  # the log
    assert f"cannot connect to SMTP server 127.0.0.1:{port}" in errors[0]  # line is above it
    assert "kept for retry" in errors[0] and "Traceback" not in result.err
    after = {r["id"]: r for r in cli("outbox", "list", "--json").json()}
    assert due and all(after[r["id"]]["state"] == "pending" for r in due)  # nothing lost
    tried = [r for r in after.values() if r["attempts"] == 1]
    assert tried and all("cannot connect" in (r["last_error"] or "") for r in tried)
