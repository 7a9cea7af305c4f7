"""Inbound mail through the real CLI and a real Dovecot: an invite is answered, a request
arrives and is acknowledged, an out-of-office reply is ignored, a bounce flags the address."""

from __future__ import annotations

import email.policy
import mailbox
import ssl
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import vobject
from fbhcli import Cli, write_config
from imapclient import IMAPClient
from inbound_mail import bounce, out_of_office, reply, request

CPH = ZoneInfo("Europe/Copenhagen")
CONSULTANT = "anne@bl.dk"
TOVHOLDER = "soren@oestervang.dk"


def next_monday(weeks: int = 2) -> date:
    today = datetime.now(CPH).date()  # the CLI reads the real clock
    return today + timedelta(days=7 - today.weekday() + 7 * (weeks - 1))


@pytest.fixture
def imap_cli(tmp_path: Path, dovecot: Any, cli: Cli) -> Cli:
    inbox = f"""
[inbox]
transport = "imap"

[inbox.imap]
host = "127.0.0.1"
port = {dovecot.imaps_port}
username = "{dovecot.username}"
cafile = "{dovecot.cafile}"
timeout = 10
"""
    config = write_config(tmp_path, "sqlite:///var/fbh.sqlite3", mail=inbox)
    env = cli.env | {"FBH_IMAP_PASSWORD": dovecot.password}
    return Cli(home=tmp_path, config=config, env=env)


def append(server: Any, data: bytes) -> None:
    context = ssl.create_default_context(cafile=str(server.cafile))
    with IMAPClient(server.host, server.imaps_port, ssl_context=context, timeout=10) as client:
        client.login(server.username, server.password)
        client.append("INBOX", data)


def read_sent(cli: Cli) -> list[EmailMessage]:
    box = mailbox.Maildir(cli.maildir, factory=None, create=False)
    found = []
    for key in sorted(box.keys()):
        with box.get_file(key) as handle:
            found.append(email.message_from_bytes(handle.read(), policy=email.policy.default))
    return found


def kind(messages: list[EmailMessage], name: str) -> list[EmailMessage]:
    return [m for m in messages if m["X-Fbh-Kind"] == name]


def the_invite_to(messages: list[EmailMessage], address: str, key: str) -> Any:
    for message in kind(messages, "invite"):
        if message["To"].addresses[0].addr_spec != address:
            continue
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                calendar = vobject.readOne(part.get_content())
                if key in calendar.vevent.uid.value:
                    return message, calendar.vevent
    raise AssertionError(f"no {key} invite to {address}")


def outbox_size(cli: Cli) -> int:
    return len(cli("outbox", "list", "--json").json())


def test_answers_requests_and_bounces_end_to_end(imap_cli: Cli, dovecot: Any) -> None:
    cli = imap_cli
    created = cli(
        "programme", "create", "--workflow", "socialt-beredskab",
        "--org", "Boligselskabet Østervang", "--municipality", "Helsingør",
        "--consultant", f"Anne Konsulent <{CONSULTANT}>",
        "--tovholder", f"Søren Tovholder <{TOVHOLDER}>",
        "--start", next_monday().isoformat(), "--json",
    ).json()  # fmt: skip
    cli("outbox", "send")
    invite, event = the_invite_to(read_sent(cli), TOVHOLDER, "workshop")
    assert invite["Reply-To"].addresses[0].addr_spec == CONSULTANT  # people answer people
    assert event.organizer.value.lower() == "mailto:fraboligtilhjem@bl.dk"  # fbh reads this

    # The tovholder declines the workshop from Outlook.
    uid, start = event.uid.value, event.dtstart.value
    append(dovecot, reply("outlook", uid=uid, attendee=TOVHOLDER, start=start))
    cli("inbox", "process")

    shown = cli("programme", "show", str(created["id"]), "--json").json()
    workshop = next(m for m in shown["milestones"] if m["key"] == "workshop")
    answers = {a["email"]: (a["role"], a["partstat"]) for a in workshop["attendees"]}
    assert answers == {
        CONSULTANT: ("consultant", "needs-action"),
        TOVHOLDER: ("tovholder", "declined"),
    }
    text = cli("programme", "show", str(created["id"])).out
    assert "answers: " in text and "Søren Tovholder: declined" in text
    assert "Søren Tovholder: afvist" in cli.danish()("programme", "show", str(created["id"])).out
    cli("outbox", "send")
    (notice,) = kind(read_sent(cli), "meeting_answer")
    assert notice["To"].addresses[0].addr_spec == CONSULTANT
    assert str(notice["Subject"]).startswith("Afbud: Workshop")
    assert "har meldt afbud" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert notice["Auto-Submitted"] == "auto-generated"

    # A second pass changes nothing.
    before = outbox_size(cli)
    again = cli("inbox", "process", "--json").json()
    assert (again["processed"], again["set_aside"]) == (0, 0)
    assert outbox_size(cli) == before

    # A request arrives by e-mail and is acknowledged; the out-of-office reply to the
    # acknowledgement creates nothing and sends nothing.
    append(dovecot, request(sender="karen@fjordbo.dk", name="Karen Kontakt"))
    cli("inbox", "process")
    (received,) = cli("request", "list", "--json").json()
    assert (
        received["state"] == "received"
        and received["contact"] == "Karen Kontakt <karen@fjordbo.dk>"
    )
    cli("outbox", "send")
    (ack,) = kind(read_sent(cli), "request_ack")
    deadline = date.fromisoformat(received["deadline"])
    assert deadline - date.fromisoformat(received["received"]) == timedelta(days=14)
    assert "senest" in ack.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    before = outbox_size(cli)
    append(
        dovecot, out_of_office("outlook", sender="karen@fjordbo.dk", original_id=ack["Message-ID"])
    )
    cli("inbox", "process")
    assert len(cli("request", "list", "--json").json()) == 1
    assert outbox_size(cli) == before

    # A bounce of the tovholder's invite flags the address.
    append(dovecot, bounce("postfix", recipient=TOVHOLDER, original_id=invite["Message-ID"]))
    cli("inbox", "process")
    status = cli("status", "--json").json()
    assert status["bouncing"] == [{"email": TOVHOLDER, "programme_id": created["id"]}]
    assert TOVHOLDER in cli("status").out

    listed = cli("inbox", "list", "--json").json()
    assert [item["kind"] for item in listed] == ["reply", "request", "auto-reply", "bounce"]
    assert {item["state"] for item in listed} == {"processed"}
    assert set(listed[0]) >= {"message_id", "received", "kind", "state", "reason"}


def test_inbox_process_without_the_password_is_a_clear_error(imap_cli: Cli) -> None:
    env = {k: v for k, v in imap_cli.env.items() if k != "FBH_IMAP_PASSWORD"}
    result = Cli(home=imap_cli.home, config=imap_cli.config, env=env)(
        "inbox", "process", check=False
    )
    assert (
        result.code == 2 and result.err.startswith("error: ") and "FBH_IMAP_PASSWORD" in result.err
    )


def test_an_unreachable_imap_server_exits_3(imap_cli: Cli, dovecot: Any) -> None:
    dovecot.stop()
    result = imap_cli("inbox", "process", check=False)
    assert result.code == 3 and result.err.startswith("error: IMAP server 127.0.0.1")
    assert "Traceback" not in result.err


@pytest.fixture
def daemons() -> Any:
    from served import daemons_fixture

    yield from daemons_fixture()


def test_serve_reads_the_inbox_continuously(tmp_path: Path, daemons: Any) -> None:
    from served import cli_env, kinds_in_maildir, wait_until, write_daemon_config

    config = write_daemon_config(
        tmp_path, "sqlite:///var/fbh.sqlite3", extra="[inbox]\npoll_seconds = 0.5"
    )
    cli = Cli(home=tmp_path, config=config, env=cli_env())
    served = daemons.start(cli, "0")
    served.wait_ready()
    folder = tmp_path / "var" / "inbox"
    wait_until(lambda: (folder / "new").is_dir(), 10, "the inbox Maildir")
    mailbox.Maildir(folder, create=False).add(request(sender="karen@fjordbo.dk"))

    wait_until(lambda: len(cli("request", "list", "--json").json()) == 1, 20, "the request")
    wait_until(lambda: "request_ack" in kinds_in_maildir(cli.maildir), 20, "the acknowledgement")
    assert served.stop()[0] == 0
    assert "inbox: 1 processed, 0 set aside" in served.text()
