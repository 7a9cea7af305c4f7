"""The engine through the real ``fbh`` command."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from fbhcli import REPO, Cli

ANNE = "Anne Konsulent <anne@bl.dk>"
PG_NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def titles(workflow: str) -> dict[str, str]:
    data = tomllib.loads((REPO / "workflows" / f"{workflow}.toml").read_text("utf-8"))
    return {m["key"]: m["title"] for m in data["milestones"]}


def meeting(
    wf: str, key: str, weeks: list[int], ws: str, we: str, start: str, end: str
) -> dict[str, Any]:
    return {
        "workflow": wf,
        "key": key,
        "title": titles(wf)[key],
        "kind": "meeting",
        "weeks": weeks,
        "window_start": ws,
        "window_end": we,
        "start": start,
        "end": end,
    }


def task(wf: str, key: str, weeks: list[int], ws: str, we: str) -> dict[str, Any]:
    return {
        "workflow": wf,
        "key": key,
        "title": titles(wf)[key],
        "kind": "task",
        "weeks": weeks,
        "window_start": ws,
        "window_end": we,
    }


SB = "socialt-beredskab"
BASE_2027 = [
    meeting(
        SB,
        "afsaet",
        [0, 0],
        "2027-01-04",
        "2027-01-08",
        "2027-01-04T10:00:00+01:00",
        "2027-01-04T11:00:00+01:00",
    ),
    meeting(
        SB,
        "opstart",
        [1, 1],
        "2027-01-11",
        "2027-01-15",
        "2027-01-11T10:00:00+01:00",
        "2027-01-11T12:00:00+01:00",
    ),
    task(SB, "kortlaegning", [1, 3], "2027-01-11", "2027-01-29"),
    task(SB, "invitationer", [4, 4], "2027-02-01", "2027-02-05"),
    meeting(
        SB,
        "workshop",
        [9, 11],
        "2027-03-08",
        "2027-03-24",
        "2027-03-08T09:00:00+01:00",
        "2027-03-08T15:00:00+01:00",
    ),
    meeting(
        SB,
        "opfoelgning",
        [12, 12],
        "2027-03-30",
        "2027-04-02",
        "2027-03-30T10:00:00+02:00",
        "2027-03-30T11:30:00+02:00",
    ),
]


def contract_view(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("workflow", "start", "end", "milestones")
    return {k: doc[k] for k in keys}


def test_plan_json_matches_the_worked_example(cli: Cli) -> None:
    doc = cli("plan", SB, "--start", "2027-01-04", "--json").json()
    assert "id" not in doc and "state" not in doc
    assert contract_view(doc) == {
        "workflow": SB,
        "start": "2027-01-04",
        "end": "2027-04-02",
        "milestones": BASE_2027,
    }


def test_plan_json_with_tilpasset_matches_the_worked_example(cli: Cli) -> None:
    doc = cli("plan", SB, "--start", "2027-01-04", "--with", "tilpasset", "--json").json()
    tp = "tilpasset"
    extension = [
        meeting(
            tp,
            "afsaet",
            [6, 6],
            "2027-02-15",
            "2027-02-19",
            "2027-02-15T10:00:00+01:00",
            "2027-02-15T11:00:00+01:00",
        ),
        task(tp, "aftaler", [7, 7], "2027-02-22", "2027-02-26"),
        task(tp, "undervisning", [8, 8], "2027-03-01", "2027-03-05"),
        task(tp, "materialer", [9, 9], "2027-03-08", "2027-03-12"),
        task(tp, "program", [10, 10], "2027-03-15", "2027-03-19"),
        # The consultant's follow-up takes the morning of 30 March, so the course day moves.
        meeting(
            tp,
            "afvikling",
            [12, 18],
            "2027-03-30",
            "2027-05-14",
            "2027-03-31T09:00:00+02:00",
            "2027-03-31T15:00:00+02:00",
        ),
    ]
    by_key = {(m["workflow"], m["key"]): m for m in BASE_2027 + extension}
    assert doc["end"] == "2027-05-14" and doc["extensions"] == [tp]
    assert len(doc["milestones"]) == len(by_key)
    for got in doc["milestones"]:
        assert got == by_key[(got["workflow"], got["key"])]
    starts = [m["window_start"] for m in doc["milestones"]]
    assert starts == sorted(starts)


def test_plan_prints_a_readable_table_with_danish_weekdays(cli: Cli) -> None:
    out = cli.danish()("plan", SB, "--start", "2027-01-04").out
    assert "uge 10–12" in out  # ISO weeks of the workshop window
    assert "man 2027-03-08 – ons 2027-03-24" in out
    assert "tir 2027-03-30" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", SB, "--start", "2027-02-30"], "invalid date '2027-02-30' for --start"),
        (["plan", "nope", "--start", "2027-01-04"], "workflow 'nope' not found"),
        (["plan", SB, "--start", "2027-01-09"], "afsaet"),  # a Saturday: week 0 is empty
        (["programme", "show", "42"], "programme 42 not found"),
        (["programme", "show", "abc"], "invalid programme id 'abc'"),
        (["programme", "cancel", "0"], "invalid programme id '0': expected a positive number"),
        (
            ["milestone", "reschedule", "1", "workshop", "--start", "tomorrow"],
            "invalid date and time",
        ),
        (
            [
                "programme",
                "create",
                "--workflow",
                SB,
                "--org",
                "X",
                "--municipality",
                "Y",
                "--consultant",
                "not an address",
                "--tovholder",
                "T <t@x.dk>",
                "--start",
                "2027-01-04",
            ],
            "--consultant: invalid contact",
        ),
        (
            [
                "programme",
                "create",
                "--workflow",
                SB,
                "--org",
                "X",
                "--municipality",
                "Y",
                "--consultant",
                "A <a@x.dk>\r\nBcc: evil@x.dk",
                "--tovholder",
                "T <t@x.dk>",
                "--start",
                "2027-01-04",
            ],
            "control characters",
        ),
        (
            ["request", "add", "--org", "X", "--contact", "A <a@x.dk>", "--wished-start", "soon"],
            "invalid date 'soon' for --wished-start",
        ),
        (["outbox", "lsit"], "No such command"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(cli: Cli, args: list[str], message: str) -> None:
    result = cli(*args, check=False)
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert message in lines[0]
    assert "Traceback" not in result.err and result.out == ""


def test_a_broken_config_is_one_line(cli: Cli) -> None:
    cli.config.write_text('[database]\nurl = "sqlite:///x"\n[mail]\ntransport = "pigeon"\n')
    result = cli("programme", "list", check=False)
    assert result.code == 2
    assert result.err.startswith(f"error: {cli.config}: mail.transport:")


def test_an_unreachable_database_is_one_line_and_exit_3(cli: Cli, tmp_path: Path) -> None:
    text = cli.config.read_text().replace("sqlite:///var/fbh.sqlite3", PG_NOWHERE)
    cli.config.write_text(text)
    result = cli("programme", "list", check=False)
    assert result.code == 3, result  # the environment, not the user's input
    assert result.err.count("\n") == 1 and result.err.startswith("error: ")
    assert "Traceback" not in result.err and result.out == ""
    assert f"cannot connect to database {PG_NOWHERE}" in result.err


def create(
    cli: Cli, org: str, *extra: str, start: str = "2027-01-04", tovholder: str = ""
) -> dict[str, Any]:
    return cli(
        "programme",
        "create",
        "--workflow",
        SB,
        "--org",
        org,
        "--municipality",
        "Helsingør",
        "--consultant",
        ANNE,
        "--tovholder",
        tovholder or f"Tovholder <tov@{abs(hash(org))}.dk>",
        "--start",
        start,
        *extra,
        "--json",
    ).json()


def test_tilpasset_alone_without_an_agreement_exits_2(cli: Cli) -> None:
    result = cli(
        "programme",
        "create",
        "--workflow",
        "tilpasset",
        "--org",
        "Nyt Selskab",
        "--municipality",
        "Odense",
        "--consultant",
        ANNE,
        "--tovholder",
        "T <t@nyt.dk>",
        "--start",
        "2027-01-04",
        check=False,
    )
    assert result.code == 2
    assert result.err.startswith("error: tilpasset needs an agreement on socialt-beredskab")
    assert cli("programme", "list", "--json").json() == []


def test_created_programme_follows_the_contract_and_can_be_listed(cli: Cli) -> None:
    doc = create(cli, "Boligselskabet Øst", "--with", "tilpasset")
    assert doc["state"] == "planned" and isinstance(doc["id"], int)
    assert doc["end"] == "2027-05-14"
    assert all("state" in m for m in doc["milestones"])
    assert cli("programme", "show", str(doc["id"]), "--json").json() == doc
    listed = cli("programme", "list", "--json").json()
    assert [p["id"] for p in listed] == [doc["id"]]


def test_two_programmes_of_one_consultant_have_workshops_on_different_days(cli: Cli) -> None:
    first = create(cli, "Selskab A")
    second = create(cli, "Selskab B")

    def workshop(doc: dict[str, Any]) -> str:
        return next(m["start"] for m in doc["milestones"] if m["key"] == "workshop")[:10]

    assert workshop(first) != workshop(second)


def test_move_shows_the_diff_and_dry_run_changes_nothing(cli: Cli) -> None:
    doc = create(cli, "Selskab M")
    pid = str(doc["id"])
    cli("milestone", "done", pid, "afsaet", "--force")  # held early: the start lies ahead
    preview = cli("programme", "move", pid, "--start", "2027-01-18", "--dry-run").out
    assert "would move 2027-01-04 → 2027-01-18" in preview
    assert "socialt-beredskab.workshop" in preview and "afsaet" not in preview
    assert cli("programme", "show", pid, "--json").json() == {
        **doc,
        "milestones": [
            {**m, "state": "done"} if m["key"] == "afsaet" else m for m in doc["milestones"]
        ],
    }
    moved = cli("programme", "move", pid, "--start", "2027-01-18", "--json").json()
    assert moved["applied"] is True and moved["changes"]
    after = cli("programme", "show", pid, "--json", "--events").json()
    assert after["start"] == "2027-01-18"
    assert any(e["event"] == "move" and e["entity"] == "programme" for e in after["events"])


def test_reschedule_outside_the_window_says_force(cli: Cli) -> None:
    pid = str(create(cli, "Selskab R")["id"])
    result = cli(
        "milestone", "reschedule", pid, "workshop", "--start", "2027-04-07T09:00", check=False
    )
    assert result.code == 2 and "--force" in result.err
    forced = cli(
        "milestone", "reschedule", pid, "workshop", "--start", "2027-04-07T09:00", "--force"
    )
    assert "2027-04-07T09:00+02:00" in forced.out


def test_workflows_check_reports_file_and_key_path(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    meeting = 'kind = "meeting"\nduration = "1h"\nattendees = ["consultant"]\n'
    broken.write_text(
        '[workflow]\nkey = "x"\nversion = "1"\ntitle = "X"\nweeks = 4\n\n'
        f'[[milestones]]\nkey = "a"\ntitle = "A"\nweeks = [2, 9]\ntime = "09:00"\n{meeting}\n'
        f'[[milestones]]\nkey = "b"\ntitle = "B"\nweeks = 1\ntime = "25:00"\n{meeting}',
        encoding="utf-8",
    )
    result = cli("workflows", "check", str(broken), check=False)
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert f"{broken}: milestones[0].weeks:" in result.err
    assert f"{broken}: milestones[1].time:" in result.err
    assert all(line.startswith(f"{broken}: ") for line in lines)
    assert cli("workflows", "check").code == 0
