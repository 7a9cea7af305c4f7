"""Time budgets and weekly digests through the real ``fbh`` command.

The CLI reads the real clock, so the programmes are placed relative to today (in
Copenhagen): one in week 3 of 12, one with TILPASSET in week 9 of 18, and one that starts
next week.
"""

from __future__ import annotations

import mailbox
import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fbhcli import Cli, write_config
from fbhtest import visible_text

from engine.store.store import Store

CPH = ZoneInfo("Europe/Copenhagen")
ANNE = "Anne Konsulent <anne@bl.dk>"


def today() -> date:
    return datetime.now(CPH).date()


def monday(weeks: int = 0) -> date:
    day = today()
    return day - timedelta(days=day.weekday()) + timedelta(weeks=weeks)


def iso(day: date) -> int:
    return day.isocalendar().week


def create(cli: Cli, org: str, tovholder: str, start: date, *extra: str) -> int:
    result = cli(
        "programme",
        "create",
        "--workflow",
        "socialt-beredskab",
        "--org",
        org,
        "--municipality",
        "Helsingør",
        "--consultant",
        ANNE,
        "--tovholder",
        tovholder,
        "--start",
        start.isoformat(),
        "--allow-past",  # these programmes are under way: weeks back is what they test
        "--json",
        *extra,
    )
    ident: int = result.json()["id"]
    return ident


def sections(text: str, names: list[str]) -> dict[str, str]:
    """The digest text cut at each programme's heading (and at the requests)."""
    marks = [*names, "Henvendelser, der venter på svar"]
    cuts = [
        text.index(f"{name} · Helsingør") if name in names else text.index(name) for name in marks
    ]
    return {name: text[cuts[i] : cuts[i + 1]] for i, name in enumerate(names)}


def mark_a_reminder_missed(cli: Cli, programme_id: int) -> str:
    """Do what the daemon does for a reminder that fell due while it was down."""
    store = Store.open(f"sqlite:///{cli.home / 'var' / 'fbh.sqlite3'}", run_migrations=False)
    try:
        with store.transaction() as tx:
            row = next(
                r
                for r in tx.outbox.find(programme_id=programme_id)
                if r.kind == "reminder" and r.state == "pending"
            )
            title = str(row.payload["context"]["milestone"]["title"])
            row.state, row.due_at = "missed", datetime.now(CPH) - timedelta(days=1)
            tx.save(row)
            tx.events.add(
                at=datetime.now(CPH),
                actor="daemon",
                entity="outbox",
                entity_id=row.id,
                programme_id=programme_id,
                event="missed",
                data={"kind": "reminder", "recipient": row.recipient},
            )
    finally:
        store.dispose()
    return title


def log_over_budget(cli: Cli, programme_id: int, start: date) -> None:
    """8 + 8 + 7.5 = 23.5 hours in week 0: over the 22.2-hour maximum."""
    for offset, hours in ((1, "8"), (2, "8"), (3, "7,5")):
        day = (start + timedelta(days=offset)).isoformat()
        cli("time", "log", str(programme_id), "--hours", hours, "--date", day)


@dataclass
class World:
    cli: Cli
    ids: dict[str, int]
    missed_title: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Built once for the tests that only read (or are refused and change nothing)."""
    home = tmp_path_factory.mktemp("digest")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    env["FBH_ACTOR"] = "acceptance"
    cli = Cli(home=home, config=write_config(home, "sqlite:///var/fbh.sqlite3"), env=env)
    ids = {
        "Østervang": create(cli, "Østervang", "Søren <soren@oestervang.dk>", monday(-3)),
        "Fællesbo": create(
            cli, "Fællesbo", "Åse <aase@faellesbo.dk>", monday(-9), "--with", "tilpasset"
        ),
        "AAB Vest": create(cli, "AAB Vest", "Bo <bo@aab.dk>", monday(1)),
    }
    log_over_budget(cli, ids["Østervang"], monday(-3))
    cli("time", "log", str(ids["Fællesbo"]), "--hours", "3", "--part", "tilpasset")
    received = (today() - timedelta(days=12)).isoformat()  # the 14-day deadline is in 2 days
    cli(
        "request",
        "add",
        "--org",
        "Boligforeningen Syd",
        "--contact",
        "Karen <karen@syd.dk>",
        "--wished-start",
        monday(8).isoformat(),
        "--received",
        received,
    )
    return World(cli, ids, mark_a_reminder_missed(cli, ids["Østervang"]))


def test_the_consultant_digest_shows_weeks_milestones_hours_requests_and_misses(
    world: World, tmp_path: Path
) -> None:
    missed_title = world.missed_title
    out, text_out = tmp_path / "digest.html", tmp_path / "digest.txt"

    result = world.cli(
        "digest",
        "preview",
        "--consultant",
        "anne@bl.dk",
        "--out",
        str(out),
        "--text",
        str(text_out),
    )

    assert str(out) in result.out
    html = out.read_text("utf-8")
    text = visible_text(html)
    week = iso(today())
    assert f"Ugebrev – uge {week}" in text
    assert re.search(r"\b3 aktive forløb", text)
    parts = sections(text, ["Østervang", "Fællesbo", "AAB Vest"])
    assert "Uge 3 af 12" in parts["Østervang"] and f"ISO-uge {week}" in parts["Østervang"]
    assert "Uge 9 af 18" in parts["Fællesbo"] and "Kompetenceudvikling" in parts["Fællesbo"]
    assert "Starter om 1 uge" in parts["AAB Vest"]
    # the next milestones, with their relative and ISO weeks
    assert re.search(rf"Uge 4 ISO-uge {iso(monday(1))} Invitationer til workshoppen", text)
    assert re.search(rf"Uge 0 ISO-uge {iso(monday(1))} Indledende dialog", parts["AAB Vest"])
    assert re.search(rf"Uge 1 ISO-uge {iso(monday(2))} Opstartsmøde", parts["AAB Vest"])
    # the tovholders' hours against budget
    assert "23,5 af 14,8–22,2 timer" in parts["Østervang"]
    assert "Over budget (106 % af maksimum)" in parts["Østervang"]
    assert "3 af 5–10 timer" in parts["Fællesbo"] and "0 af 14,8–22,2 timer" in parts["AAB Vest"]
    # the timeline has one cell per week: 0–12, or 0–18 with the extension
    assert len(re.findall(r'<td class="t[pcf]"[^>]*>-?\d+<br>', html)) == 13 + 19 + 13
    # the request two days from its deadline, and the reminder missed while the daemon was down
    assert re.search(r"Boligforeningen Syd .*2 dage tilbage", text)
    assert f"Påmindelse: {missed_title} (Østervang)" in text
    plain = text_out.read_text("utf-8")
    assert "Uge 3 af 12" in plain and "23,5 af 14,8–22,2 timer" in plain
    assert "2 dage tilbage" in plain and f"Påmindelse: {missed_title}" in plain


def test_the_lead_digest_preview(world: World, tmp_path: Path) -> None:
    out = tmp_path / "lead.html"
    world.cli("digest", "preview", "--lead", "--out", str(out))
    text = visible_text(out.read_text("utf-8"))

    assert f"Programoverblik – uge {iso(today())}" in text
    assert re.search(r"\b3 aktive forløb", text)
    assert "Anne Konsulent" in text and "over maksimum" in text


def test_digests_are_queued_once_a_week_and_delivered_by_the_outbox(cli: Cli) -> None:
    pid = create(cli, "Østervang", "Søren <soren@oestervang.dk>", monday(-3))
    log_over_budget(cli, pid, monday(-3))
    cli("outbox", "send")
    first = cli.danish()("digest", "send")
    assert first.out.startswith("satte 2 oversigter for ") and "fbh outbox send" in first.out
    again = cli("digest", "send", "--json").json()
    assert again["queued"] == [] and sorted(again["already"]) == ["anne@bl.dk", "lead@bl.dk"]

    cli("outbox", "send")
    subjects = [
        str(message_from_bytes(m.as_bytes(), policy=policy.default)["Subject"])
        for m in mailbox.Maildir(cli.maildir, create=False)
    ]
    assert sum(s.startswith(f"Ugebrev uge {iso(today())}") for s in subjects) == 1
    assert sum(s.startswith(f"Programoverblik uge {iso(today())}") for s in subjects) == 1
    assert any(s.startswith("Tidsbudgettet er overskredet") for s in subjects)


def test_time_status_json_follows_the_contract(world: World) -> None:
    cli, three = world.cli, world.ids
    base = cli("time", "status", str(three["Østervang"]), "--json").json()
    assert {k: base[k] for k in ("min_hours", "max_hours", "used_hours", "status")} == {
        "min_hours": 14.8,
        "max_hours": 22.2,
        "used_hours": 23.5,
        "status": "over",
    }
    extended = cli("time", "status", str(three["Fællesbo"]), "--json").json()
    assert extended["status"] == "under" and extended["used_hours"] == 0
    assert [
        (p["part"], p["min_hours"], p["max_hours"], p["used_hours"], p["status"])
        for p in extended["parts"]
    ] == [("socialt-beredskab", 14.8, 22.2, 0, "under"), ("tilpasset", 5.0, 10.0, 3.0, "under")]
    assert all(p["pace"] in ("behind", "on track", "ahead") for p in extended["parts"])
    assert all(0 <= p["elapsed_share"] <= 1 for p in extended["parts"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hours", "abc"], "invalid --hours 'abc': expected a number of hours"),
        (["--hours", "-2"], "must be more than 0"),
        (["--hours", "0"], "must be more than 0"),
        (["--hours", "25"], "at most 24 hours"),
        (["--hours", "2", "--date", "2999-01-01"], "lies in the future"),
        (["--hours", "2", "--date", "2000-01-01"], "is outside programme"),
        (["--hours", "2", "--date", "01-01-2027"], "invalid date '01-01-2027'"),
        (["--hours", "2", "--part", "basis"], "unknown part 'basis'"),
        (["--hours", "17", "--date", "DAY1"], "would have 25 hours on"),
    ],
)
def test_bad_time_entries_are_refused_in_one_line_and_change_nothing(
    world: World, args: list[str], message: str
) -> None:
    cli, pid = world.cli, str(world.ids["Østervang"])
    args = [a.replace("DAY1", (monday(-3) + timedelta(days=1)).isoformat()) for a in args]
    before = cli("time", "list", pid, "--json").out

    result = cli("time", "log", pid, *args, check=False)

    assert result.code == 2, result.err
    assert result.err.startswith("error: ") and result.err.count("\n") == 1
    assert message in result.err
    assert "Traceback" not in result.err
    assert cli("time", "list", pid, "--json").out == before


def test_unknown_ids_and_edits_and_deletes(cli: Cli) -> None:
    assert "programme 999 not found" in cli("time", "status", "999", check=False).err
    assert "time entry 999 not found" in cli("time", "delete", "999", check=False).err
    pid = str(create(cli, "Fællesbo", "Åse <aase@faellesbo.dk>", monday(-9), "--with", "tilpasset"))
    cli("time", "log", pid, "--hours", "3", "--part", "tilpasset")
    entry = cli("time", "list", pid, "--json").json()[0]

    edited = cli("time", "edit", str(entry["id"]), "--hours", "4,5", "--note", "Kursusplan")
    assert "changed entry" in edited.out and "4.5 h" in edited.out
    assert cli("time", "status", pid, "--json").json()["parts"][1]["used_hours"] == 4.5
    cli("time", "delete", str(entry["id"]))
    assert cli("time", "list", pid, "--json").json() == []
    events = cli("programme", "show", pid, "--json", "--events").json()["events"]
    assert [e["event"] for e in events if e["entity"] == "time"] == ["log", "edit", "delete"]
