"""Issue 11 §5 and §6 through the real CLI, on SQLite and PostgreSQL: the BASIS course
calendar (waiting list, promotion, cancellation, publishing), a tovholder handover that moves
the invites, and a maintenance check-in sent 3 months after the end (the CLI's clock shifted
with time-machine, tests/acceptance/fbh_shifted.py). Every invite read back from the Maildir
passes the four parsers of tests/icsparsers.py."""

from __future__ import annotations

import email.policy
import mailbox
import os
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import icsparsers
import pytest
from fbhcli import Cli, Result, write_config
from icalendar import Calendar

CPH = ZoneInfo("Europe/Copenhagen")


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def dbcli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    url = (
        "sqlite:///var/fbh.sqlite3"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_schema_url"))
    )
    config = write_config(tmp_path, url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    env["FBH_ACTOR"] = "acceptance"
    cli = Cli(home=tmp_path, config=config, env=env)
    cli("migrate")  # commands other than fbh migrate never create the schema
    return cli


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    kind: str
    text: str
    ics: bytes | None

    @property
    def method(self) -> str | None:
        return None if self.ics is None else str(Calendar.from_ical(self.ics)["METHOD"])

    @property
    def uid(self) -> str:
        assert self.ics is not None
        return str(Calendar.from_ical(self.ics).walk("VEVENT")[0]["UID"])


class Maildir:
    """The mails delivered so far; ``new()`` returns those not seen before."""

    def __init__(self, cli: Cli) -> None:
        self.cli = cli
        self.seen: set[str] = set()

    def new(self) -> list[Mail]:
        box = mailbox.Maildir(self.cli.maildir, factory=None, create=False)
        found = []
        for key in sorted(set(box.keys()) - self.seen):
            self.seen.add(key)
            with box.get_file(key) as handle:
                message = email.message_from_bytes(handle.read(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append(_mail(message))
        return found


def _mail(message: EmailMessage) -> Mail:
    ics = None
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            ics = part.get_content().encode("utf-8")
            assert part.get_param("method") == str(Calendar.from_ical(ics)["METHOD"])
    body = message.get_body(("plain",))
    assert body is not None
    return Mail(
        to=message["To"].addresses[0].addr_spec,
        subject=str(message["Subject"]),
        kind=str(message["X-Fbh-Kind"]),
        text=body.get_content(),
        ics=ics,
    )


def check_parsers(mails: list[Mail]) -> None:
    """Every invite: the four parsers agree on UID, times, SEQUENCE and STATUS."""
    for mail in mails:
        if mail.ics is None:
            continue
        expected = icsparsers.parse_icalendar(mail.ics)
        assert len(expected) == 1
        for name in icsparsers.NAMES:
            assert icsparsers.parser(name)(mail.ics) == expected, (name, mail.subject)


def send(cli: Cli) -> None:
    assert cli("outbox", "send", "--json").json()["failed"] == 0


def course_day(weeks: int = 6) -> date:
    today = datetime.now(CPH).date()
    return today + timedelta(days=7 * weeks + (1 - today.weekday()) % 7)  # a Tuesday


def add_course(cli: Cli, day: date, *extra: str) -> int:
    doc = cli(
        "course",
        "add",
        "--city",
        "københavn",
        "--venue",
        "BL, Studiestræde 50",
        "--start",
        f"{day}T09:00",
        "--end",
        f"{day}T15:30",
        "--capacity",
        "2",
        "--venue-email",
        "Studiestræde Lokaler <lokaler@bl.dk>",
        *extra,
        "--json",
    ).json()
    assert doc["city"] == "København" and doc["state"] == "planned"
    return int(doc["id"])


PEOPLE = [
    ("Åse Ørum", "aase@boligost.dk", "Boligselskabet Øst"),
    ("Bent Æbelø", "bent@boligost.dk", "Boligselskabet Øst"),
    ("Carla Hviid", "carla@helsingor.dk", "Helsingør Kommune"),
    ("Dan Sø", "dan@act.dk", "ACT-teamet"),
]


def register(cli: Cli, course: int, person: tuple[str, str, str]) -> str:
    name, address, org = person
    result = cli(
        "course",
        "register",
        str(course),
        "--name",
        name,
        "--email",
        address,
        "--org",
        org,
        "--json",
    )
    return str(result.json()["state"])


def test_a_full_course_gets_a_waiting_list_and_a_freed_seat_promotes_the_first(
    dbcli: Cli,
) -> None:
    cli, box = dbcli, Maildir(dbcli)
    day = course_day()
    course = add_course(cli, day)
    assert [register(cli, course, p) for p in PEOPLE] == [
        "registered",
        "registered",
        "waitlisted",
        "waitlisted",
    ]
    shown = cli("course", "show", str(course), "--json").json()
    assert [p["email"] for p in shown["registered"]] == ["aase@boligost.dk", "bent@boligost.dk"]
    assert [p["email"] for p in shown["waitlist"]] == ["carla@helsingor.dk", "dan@act.dk"]
    assert shown["registered"][0] == {
        "name": "Åse Ørum",
        "email": "aase@boligost.dk",
        "org": "Boligselskabet Øst",
    }
    send(cli)
    first = box.new()
    invites = {m.to: m for m in first if m.kind == "course_invite"}
    assert set(invites) == {"aase@boligost.dk", "bent@boligost.dk"}
    assert {m.method for m in invites.values()} == {"REQUEST"}
    assert invites["aase@boligost.dk"].subject.startswith("Tilmeldt: BASIS-kursus")
    assert "Boligselskabet Øst" in invites["aase@boligost.dk"].subject
    waiting = {m.to: m for m in first if m.kind == "course_notice"}
    assert set(waiting) == {"carla@helsingor.dk", "dan@act.dk"}
    assert all(m.ics is None for m in waiting.values())
    assert "nummer 1 på ventelisten" in waiting["carla@helsingor.dk"].text
    assert "nummer 2 på ventelisten" in waiting["dan@act.dk"].text
    uid = invites["aase@boligost.dk"].uid
    assert invites["bent@boligost.dk"].uid == uid

    out = cli("course", "unregister", str(course), "Aase@boligost.dk").out
    assert "carla@helsingor.dk moved up from the waiting list" in out
    send(cli)
    second = box.new()
    by_to = {m.to: m for m in second if m.kind == "course_invite"}
    assert set(by_to) == {"aase@boligost.dk", "carla@helsingor.dk"}
    assert by_to["aase@boligost.dk"].method == "CANCEL"
    promoted = by_to["carla@helsingor.dk"]
    assert promoted.method == "REQUEST" and promoted.uid == uid
    assert promoted.subject.startswith("Du har fået en plads")
    shown = cli("course", "show", str(course), "--json").json()
    assert [p["email"] for p in shown["registered"]] == ["bent@boligost.dk", "carla@helsingor.dk"]
    assert [p["email"] for p in shown["waitlist"]] == ["dan@act.dk"]
    check_parsers(first + second)

    # The venue's roster and the reminders wait for their days.
    pending = cli("outbox", "list", "--state", "pending", "--json").json()
    kinds = sorted(r["kind"] for r in pending)
    assert kinds.count("course_roster") == 1
    assert {r["recipient"] for r in pending if r["kind"] == "course_reminder"} == {
        "bent@boligost.dk",
        "carla@helsingor.dk",
    }


def test_cancelling_a_course_sends_cancels_and_publish_writes_html_and_ics(dbcli: Cli) -> None:
    cli, box = dbcli, Maildir(dbcli)
    first_day, second_day = course_day(4), course_day(20)
    kept = add_course(cli, first_day)
    dropped = add_course(cli, second_day)
    for person in PEOPLE[:3]:
        register(cli, dropped, person)
    register(cli, kept, PEOPLE[3])
    send(cli)
    box.new()

    out = cli.home / "public"
    cli("course", "publish", "--out", str(out))
    html = (out / "index.html").read_text(encoding="utf-8")
    assert html.count("<tr>") == 3 and "København" in html
    assert "Fuldt booket – venteliste" in html
    ics = (out / "kurser.ics").read_bytes()
    calendar = Calendar.from_ical(ics)
    assert str(calendar["METHOD"]) == "PUBLISH"
    events = calendar.walk("VEVENT")
    assert len(events) == 2 and not any("ATTENDEE" in e for e in events)
    parsed = icsparsers.parse_icalendar(ics)
    for name in icsparsers.NAMES:
        assert icsparsers.parser(name)(ics) == parsed, name
    starts = sorted(e["dtstart_utc"] for e in parsed.values())
    assert starts[0] == icsparsers.utc_text(datetime.combine(first_day, time(9), CPH))

    assert "3 cancellations queued" in cli("course", "cancel", str(dropped)).out
    send(cli)
    cancels = box.new()
    invites = {m.to: m.method for m in cancels if m.kind == "course_invite"}
    assert invites == {"aase@boligost.dk": "CANCEL", "bent@boligost.dk": "CANCEL"}
    assert [m.to for m in cancels if m.kind == "course_notice"] == ["carla@helsingor.dk"]
    check_parsers(cancels)
    assert cli("course", "show", str(dropped), "--json").json()["state"] == "cancelled"
    again = cli(
        "course",
        "register",
        str(dropped),
        "--name",
        "X",
        "--email",
        "x@y.dk",
        "--org",
        "Y",
        check=False,
    )
    assert again.code == 2 and again.err.startswith("error: course")

    cli("course", "publish", "--out", str(out))
    assert len(Calendar.from_ical((out / "kurser.ics").read_bytes()).walk("VEVENT")) == 1


def test_a_csv_import_is_all_or_nothing(dbcli: Cli) -> None:
    cli = dbcli
    course = add_course(cli, course_day())
    good = cli.home / "good.csv"
    rows = ["navn;email;organisation", *(";".join(p) for p in PEOPLE[:3])]
    good.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    bad = cli.home / "bad.csv"
    bad.write_bytes(
        ("\ufeff" + "\r\n".join([rows[0], rows[1], "Ole;not-an-address;Org", rows[2]])).encode()
    )
    failed = cli("course", "import", str(course), str(bad), check=False)
    assert failed.code == 2 and failed.err.count("\n") == 1
    assert "row 3" in failed.err and "nothing imported" in failed.err
    assert cli("course", "show", str(course), "--json").json()["registered"] == []
    done = cli("course", "import", str(course), str(good)).out
    assert "2 registered, 1 on the waiting list" in done
    shown = cli("course", "show", str(course), "--json").json()
    assert [p["name"] for p in shown["registered"]] == ["Åse Ørum", "Bent Æbelø"]


def next_monday(weeks: int = 2) -> date:
    today = datetime.now(CPH).date()
    return today + timedelta(days=7 - today.weekday() + 7 * (weeks - 1))


def create(cli: Cli, org: str, consultant: str, tovholder: str) -> dict[str, object]:
    doc = cli(
        "programme", "create", "--workflow", "socialt-beredskab", "--org", org,
        "--municipality", "Helsingør", "--consultant", consultant, "--tovholder", tovholder,
        "--start", next_monday().isoformat(), "--json",
    ).json()  # fmt: skip
    assert isinstance(doc, dict)
    return doc


def test_a_tovholder_handover_moves_the_invites(dbcli: Cli) -> None:
    cli, box = dbcli, Maildir(dbcli)
    doc = create(cli, "Boligselskabet Øst", "Anne K <anne@bl.dk>", "Søren Ø <soren@ost.dk>")
    pid = str(doc["id"])
    send(cli)
    before = box.new()
    soren = {m.uid for m in before if m.to == "soren@ost.dk" and m.method == "REQUEST"}
    assert len(soren) == 4  # afsaet, opstart, workshop, opfoelgning

    result = cli("programme", "edit", pid, "--tovholder", "Tove Ny <tove@ost.dk>")
    assert "4 future meetings moved" in result.out
    send(cli)
    after = box.new()
    cancels = [m for m in after if m.to == "soren@ost.dk"]
    assert {m.method for m in cancels} == {"CANCEL"} and {m.uid for m in cancels} == soren
    requests = [m for m in after if m.to == "tove@ost.dk" and m.ics is not None]
    assert {m.method for m in requests} == {"REQUEST"} and {m.uid for m in requests} == soren
    updates = [m for m in after if m.to == "anne@bl.dk"]
    assert {m.uid for m in updates} == soren and {m.method for m in updates} == {"REQUEST"}
    check_parsers(before + after)
    for mail in requests:  # the new attendee list names Tove, not Søren
        event = Calendar.from_ical(mail.ics or b"").walk("VEVENT")[0]
        attendees = {str(a).lower() for a in event.get("ATTENDEE")}
        assert attendees == {"mailto:anne@bl.dk", "mailto:tove@ost.dk"}
        assert int(event["SEQUENCE"]) == 1

    shown = cli("programme", "show", pid, "--json").json()
    assert shown["tovholder"] == "Tove Ny <tove@ost.dk>"
    for milestone in shown["milestones"]:
        if milestone["kind"] == "meeting":
            assert {a["email"] for a in milestone["attendees"]} == {"anne@bl.dk", "tove@ost.dk"}
    events = cli("programme", "show", pid, "--events", "--json").json()["events"]
    assert [e["data"]["to"] for e in events if e["event"] == "handover"] == [
        "Tove Ny <tove@ost.dk>"
    ]

    # A consultant who is busy at the same times is refused: no double booking.
    create(cli, "Boligselskabet Vest", "Bo Travl <bo@bl.dk>", "Vera <vera@vest.dk>")
    refused = cli("programme", "edit", pid, "--consultant", "Bo Travl <bo@bl.dk>", check=False)
    assert refused.code == 2
    assert refused.err.startswith("error: the new consultant has another meeting")
    assert cli("programme", "show", pid, "--json").json()["consultant"] == "Anne K <anne@bl.dk>"


def shifted(cli: Cli, now: datetime, *args: str) -> Result:
    env = cli.env | {"FBH_TEST_SHIFT_SECONDS": str((now - datetime.now(UTC)).total_seconds())}
    return replace(cli, env=env)(*args)


def test_a_checkin_goes_out_three_months_after_the_end(dbcli: Cli) -> None:
    cli, box = dbcli, Maildir(dbcli)
    doc = create(cli, "Boligselskabet Øst", "Anne K <anne@bl.dk>", "Søren Ø <soren@ost.dk>")
    pid = str(doc["id"])
    checkins = {c["key"]: c for c in doc["checkins"]}  # type: ignore[union-attr]
    assert list(checkins) == ["checkin-3", "checkin-6", "checkin-12"]
    due = datetime.fromisoformat(checkins["checkin-3"]["due"])
    end = date.fromisoformat(str(doc["end"]))
    assert due.date() >= end + timedelta(days=89) and due.timetz() == time(9, tzinfo=due.tzinfo)
    cli("programme", "edit", pid, "--tovholder", "Tove Ny <tove@ost.dk>")
    send(cli)
    box.new()

    shifted(cli, due - timedelta(minutes=5), "outbox", "send")
    assert [m for m in box.new() if m.kind == "checkin"] == []
    shifted(cli, due + timedelta(minutes=1), "outbox", "send")
    sent = [m for m in box.new() if m.kind == "checkin"]
    assert [(m.to, m.subject) for m in sent] == [
        ("tove@ost.dk", "Opfølgning efter 3 måneder: Socialt beredskab (Boligselskabet Øst)")
    ]
    assert "Kære Tove Ny" in sent[0].text
    shown = cli("programme", "show", pid, "--json").json()
    states = {c["key"]: c["state"] for c in shown["checkins"]}
    assert states == {"checkin-3": "scheduled", "checkin-6": "planned", "checkin-12": "planned"}
    assert "checkin-3 done" in cli("milestone", "done", pid, "checkin-3").out
    shown = cli("programme", "show", pid, "--json").json()
    assert shown["checkins"][0]["state"] == "done"
