"""Participants through the real CLI on SQLite and PostgreSQL (issue 11): a workshop with 12
participants of 5 kinds imported from a Danish Excel CSV, their invites through the four
parsers, answers by hand and by mail (an iTIP REPLY through ``fbh inbox process``), the
tovholder's headcount mail with the right numbers, the course days of TILPASSET, a removal
that sends a CANCEL, a bad CSV that imports nothing, and ``participant forget``."""

from __future__ import annotations

import email.policy
import mailbox
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fbhcli import Cli, Result, write_config
from icsparsers import parser, utc_text
from inbound_mail import reply

CPH = ZoneInfo("Europe/Copenhagen")
CONSULTANT = "anne@bl.dk"
TOVHOLDER = "soren@oestervang.dk"

# What Excel (Danish) writes as "CSV UTF-8": BOM, ';', CRLF, quotes only where needed.
EXCEL_CSV = (
    "\ufeffnavn;email;organisation;type;rolle\r\n"
    "Åse Ærø;ase@helsingor.dk;Helsingør Kommune;Kommune;leder\r\n"
    "Bjørn Østergård;bjorn@helsingor.dk;Helsingør Kommune;Kommune;medarbejder\r\n"
    "Søs Højgaard;sos@politi.dk;Nordsjællands Politi;Politi;medarbejder\r\n"
    "Lærke Bøgh;laerke@politi.dk;Nordsjællands Politi;Politi;leder\r\n"
    "Mads Kjær;mads@bostotte.dk;Bostøtten, Helsingør;Bostøtte og ACT-team;medarbejder\r\n"
    "Nana Ås;nana@act.dk;ACT-teamet;Bostøtte og ACT-team;medarbejder\r\n"
    'Ole Brøndum;ole@kfum.dk;"KFUM; Helsingør";Civilsamfund;leder\r\n'
    "Pia Skærbæk;pia@kirken.dk;Folkekirkens Mødested;Civilsamfund;medarbejder\r\n"
    "Rasmus Møller;rasmus@oestervang.dk;Østervang;Social vicevært;medarbejder\r\n"
    "Sine Dæhli;sine@oestervang.dk;Østervang;Social vicevært;medarbejder\r\n"
    "Tove Lund;tove@oestervang.dk;Østervang;Social vicevært;leder\r\n"
    "Ulla Gråsten;ulla@oestervang.dk;Østervang;Social vicevært;medarbejder\r\n"
).encode()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def pcli(request: pytest.FixtureRequest, tmp_path: Path, cli: Cli) -> Cli:
    url = "sqlite:///var/fbh.sqlite3"
    if request.param == "postgres":
        url = str(request.getfixturevalue("pg_schema_url"))
    inbox = '[inbox]\ntransport = "maildir"\nmaildir = "var/inbox"\n'
    config = write_config(tmp_path, url, mail=inbox)
    return Cli(home=tmp_path, config=config, env=cli.env).create_database()  # as 'fbh migrate'


def next_monday(weeks: int = 2) -> date:
    today = datetime.now(CPH).date()  # the CLI reads the real clock
    return today + timedelta(days=7 - today.weekday() + 7 * (weeks - 1))


def create(cli: Cli, *extra: str) -> dict[str, Any]:
    return cli(
        "programme",
        "create",
        "--workflow",
        "socialt-beredskab",
        "--org",
        "Østervang",
        "--municipality",
        "Helsingør",
        "--consultant",
        f"Anne Konsulent <{CONSULTANT}>",
        "--tovholder",
        f"Søren Tovholder <{TOVHOLDER}>",
        "--start",
        next_monday().isoformat(),
        *extra,
        "--json",
    ).json()


def shifted(cli: Cli, at: datetime, *args: str) -> Result:
    """Run fbh with its clock at ``at`` (tests/acceptance/fbh_shifted.py)."""
    env = cli.env | {"FBH_TEST_SHIFT_SECONDS": str((at - datetime.now(UTC)).total_seconds())}
    return replace(cli, env=env)(*args)


def sent(cli: Cli) -> list[EmailMessage]:
    box = mailbox.Maildir(cli.maildir, factory=None, create=False)
    found = []
    for key in sorted(box.keys()):
        with box.get_file(key) as handle:
            message = email.message_from_bytes(handle.read(), policy=email.policy.default)
            found.append(message)  # type: ignore[arg-type]
    return found


def of_kind(messages: list[EmailMessage], kind: str, to: str | None = None) -> list[EmailMessage]:
    return [
        m
        for m in messages
        if m["X-Fbh-Kind"] == kind and (to is None or m["To"].addresses[0].addr_spec == to)
    ]


def calendar_of(message: EmailMessage) -> bytes:
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError("no text/calendar part")


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def workshop(cli: Cli, ident: int) -> dict[str, Any]:
    shown = cli("programme", "show", str(ident), "--json").json()
    return next(m for m in shown["milestones"] if m["key"] == "workshop")


def test_workshop_with_twelve_participants_and_the_headcount(pcli: Cli, tmp_path: Path) -> None:
    cli = pcli
    ident = create(cli)["id"]
    source = tmp_path / "deltagere.csv"
    source.write_bytes(EXCEL_CSV)
    assert "12 participants added" in cli("participant", "import", str(ident), str(source)).out

    # the list round-trips byte for byte, æøå, BOM, quotes and CRLF included
    back = tmp_path / "eksport.csv"
    cli("participant", "export", str(ident), str(back))
    assert back.read_bytes() == EXCEL_CSV

    listed = cli("participant", "list", str(ident), "--json").json()
    assert len(listed) == 12
    kinds = {p["kind"] for p in listed}
    assert kinds == {
        "municipality",
        "police",
        "housing-support",
        "civil-society",
        "social-caretaker",
    }
    assert {p["role"] for p in listed} == {"employee", "leader"}
    assert all(p["answers"] == {"workshop": "needs-action"} for p in listed)

    # every invite goes out, and every invite passes the four parsers
    cli("outbox", "send")
    invites = of_kind(sent(cli), "invite")
    to_participants = [
        m for m in invites if m["To"].addresses[0].addr_spec not in (CONSULTANT, TOVHOLDER)
    ]
    assert len(to_participants) == 12
    meeting = workshop(cli, ident)
    start = datetime.fromisoformat(meeting["start"])
    parsers = [parser(name) for name in ("icalendar", "vobject", "icaljs", "libical")]
    for message in invites:
        ics = calendar_of(message)
        for parse in parsers:
            events = parse(ics)
            assert len(events) == 1
            uid, event = next(iter(events.items()))
            assert event["status"] == "CONFIRMED"
            if "workshop" in uid:
                assert event["dtstart_utc"] == utc_text(start)
    ics = calendar_of(of_kind(invites, "invite", "ase@helsingor.dk")[0]).decode()
    ics = ics.replace("\r\n ", "")  # unfold
    assert "ROLE=REQ-PARTICIPANT" in ics and "Åse Ærø" in ics
    uid = next(
        line.split(":", 1)[1] for line in ics.splitlines() if line.startswith("UID:")
    ).strip()

    # answers: by hand, and one by mail through the inbound path
    answers = {
        "bjorn@helsingor.dk": "accepted",
        "sos@politi.dk": "accepted",
        "laerke@politi.dk": "accepted",
        "mads@bostotte.dk": "accepted",
        "nana@act.dk": "tentative",
        "ole@kfum.dk": "tentative",
        "pia@kirken.dk": "declined",
    }
    for address, answer in answers.items():
        cli(
            "participant",
            "answer",
            str(ident),
            address,
            "--meeting",
            "workshop",
            "--answer",
            answer,
        )
    inbox = cli.home / "var" / "inbox"
    for folder in ("new", "cur", "tmp"):
        (inbox / folder).mkdir(parents=True, exist_ok=True)
    mail = reply(
        "outlook",
        uid=uid,
        attendee="ase@helsingor.dk",
        name="Åse Ærø",
        partstat="ACCEPTED",
        start=start,
    )
    (inbox / "new" / "1.reply.eml").write_bytes(mail)
    cli("inbox", "process")
    listed = {p["email"]: p for p in cli("participant", "list", str(ident), "--json").json()}
    assert listed["ase@helsingor.dk"]["answers"] == {"workshop": "accepted"}
    assert listed["pia@kirken.dk"]["answers"] == {"workshop": "declined"}
    counts = cli("participant", "headcount", str(ident), "--json").json()[0]
    assert (
        counts["accepted"],
        counts["tentative"],
        counts["unanswered"],
        counts["declined"],
        counts["lunch"],
    ) == (5, 2, 4, 1, 9)

    # programme show: the workshop's attendees with their answers
    attendees = {a["email"]: a for a in workshop(cli, ident)["attendees"]}
    assert attendees["ase@helsingor.dk"] == {
        "name": "Åse Ærø",
        "email": "ase@helsingor.dk",
        "role": "participant",
        "partstat": "accepted",
    }
    assert attendees[CONSULTANT]["role"] == "consultant"

    # the days pass: the reminder to the 4 who have not answered, then the headcount
    shifted(cli, start - timedelta(days=2, hours=12), "outbox", "send")
    messages = sent(cli)
    reminded = {m["To"].addresses[0].addr_spec for m in of_kind(messages, "participant_reminder")}
    assert reminded == {
        "rasmus@oestervang.dk",
        "sine@oestervang.dk",
        "tove@oestervang.dk",
        "ulla@oestervang.dk",
    }
    counted = of_kind(messages, "headcount", TOVHOLDER)
    assert len(counted) == 1
    body = text_of(counted[0])
    assert "9 til frokost" in str(counted[0]["Subject"])
    for label, number in (
        ("Kommer:", 5),
        ("Kommer måske:", 2),
        ("Har ikke svaret:", 4),
        ("Kommer ikke:", 1),
        ("Til frokost:", 9),
    ):
        line = next(x for x in body.splitlines() if x.startswith(label))
        assert line.split()[-1 if label != "Til frokost:" else 2] == str(number), line
    assert "Åse Ærø <ase@helsingor.dk>, Helsingør Kommune, Kommune, leder" in body


def test_removal_cancels_and_course_days_have_their_own_participants(pcli: Cli) -> None:
    cli = pcli
    ident = create(cli, "--with", "tilpasset")["id"]
    cli(
        "participant",
        "add",
        str(ident),
        "--name",
        "Åse Ærø",
        "--email",
        "ase@helsingor.dk",
        "--org",
        "Helsingør Kommune",
        "--kind",
        "municipality",
        "--role",
        "leader",
    )
    cli(
        "participant",
        "add",
        str(ident),
        "--part",
        "tilpasset",
        "--name",
        "Frida Frontmedarbejder",
        "--email",
        "frida@oestervang.dk",
        "--org",
        "Østervang",
        "--kind",
        "internal",
    )
    course = cli("participant", "list", str(ident), "--part", "tilpasset", "--json").json()
    assert [(p["email"], p["answers"]) for p in course] == [
        ("frida@oestervang.dk", {"afvikling": "needs-action"})
    ]
    counts = {c["meeting"]: c for c in cli("participant", "headcount", str(ident), "--json").json()}
    assert counts["afvikling"]["unanswered"] == 1 and counts["workshop"]["unanswered"] == 1
    cli("outbox", "send")
    frida = of_kind(sent(cli), "invite", "frida@oestervang.dk")
    assert len(frida) == 1 and "afvikling" in calendar_of(frida[0]).decode()

    cli("participant", "remove", str(ident), "ase@helsingor.dk")
    cli("outbox", "send")
    to_ase = of_kind(sent(cli), "invite", "ase@helsingor.dk")
    methods = [calendar_of(m).decode() for m in to_ase]
    assert len(methods) == 2 and "METHOD:CANCEL" in methods[1]
    for name in ("icalendar", "vobject", "icaljs", "libical"):
        event = next(iter(parser(name)(calendar_of(to_ase[1])).values()))
        assert event["status"] == "CANCELLED", name
    assert "ikke længere på deltagerlisten" in text_of(to_ase[1])
    left = cli("participant", "list", str(ident), "--json").json()
    assert [(p["email"], p["part"]) for p in left] == [("frida@oestervang.dk", "tilpasset")]
    emails = {a["email"] for a in workshop(cli, ident)["attendees"]}
    assert "ase@helsingor.dk" not in emails


def test_a_bad_row_imports_nothing_and_names_the_row(pcli: Cli, tmp_path: Path) -> None:
    cli = pcli
    ident = create(cli)["id"]
    lines = EXCEL_CSV.decode().split("\r\n")
    lines[4] = lines[4].replace("Politi;leder", "Polti;leder")  # row 5: a typo in the kind
    source = tmp_path / "deltagere.csv"
    source.write_bytes("\r\n".join(lines).encode())
    result = cli("participant", "import", str(ident), str(source), check=False)
    assert result.code == 2
    assert result.err.count("\n") == 1 and result.err.startswith("error: ")
    assert "row 5" in result.err and "Polti" in result.err
    assert "Traceback" not in result.err
    assert cli("participant", "list", str(ident), "--json").json() == []


def test_forget_erases_the_person_and_keeps_a_pseudonym(pcli: Cli) -> None:
    cli = pcli
    ident = create(cli)["id"]
    cli(
        "participant",
        "add",
        str(ident),
        "--name",
        "Åse Ærø",
        "--email",
        "ase@helsingor.dk",
        "--org",
        "Helsingør Kommune",
        "--kind",
        "Kommune",
    )
    cli(
        "participant",
        "answer",
        str(ident),
        "ase@helsingor.dk",
        "--meeting",
        "workshop",
        "--answer",
        "accepted",
    )
    found = cli("participant", "forget", "ase@helsingor.dk", "--json").json()["rows"]
    assert found["participants"] == 1 and found["meeting_answers"] == 1
    assert cli("participant", "list", str(ident), "--json").json() == []
    events = cli("programme", "events", str(ident), "--json", check=False)
    if events.code == 0:
        assert "ase@helsingor.dk" not in events.out and "Åse Ærø" not in events.out
        assert "person-" in events.out
    outbox = cli("outbox", "list", check=False).out
    assert "ase@helsingor.dk" not in outbox


def test_workflows_check_names_a_typo_in_a_participant_key(cli: Cli, tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "workflows" / "socialt-beredskab.toml"
    broken = tmp_path / "socialt-beredskab.toml"
    broken.write_text(
        source.read_text(encoding="utf-8").replace('headcount = "3d"', 'headcont = "3d"'),
        encoding="utf-8",
    )
    result = cli("workflows", "check", str(broken), check=False)
    assert result.code == 2
    assert f"{broken}: workflow.participants: unknown key 'headcont'" in result.out + result.err
