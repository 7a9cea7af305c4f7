"""Issue 12, §2: wrong results and missing guards, through the real ``fbh`` command."""

from __future__ import annotations

import email.policy
import mailbox
import os
import pty
import subprocess
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from fbhcli import FBH, Cli

CPH = ZoneInfo("Europe/Copenhagen")
SB = "socialt-beredskab"
ANNE = "Anne Konsulent <anne@bl.dk>"


def today() -> date:
    return datetime.now(CPH).date()


def monday(weeks: int = 0) -> date:
    day = today()
    return day - timedelta(days=day.weekday()) + timedelta(weeks=weeks)


def create_args(org: str, start: date | str, *extra: str) -> list[str]:
    return [
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
        "Tove Tovholder <tove@bo.dk>",
        "--start",
        str(start),
        *extra,
    ]


def create(cli: Cli, org: str, start: date | str = "2027-01-04", *extra: str) -> dict[str, Any]:
    doc: dict[str, Any] = cli(*create_args(org, start, *extra), "--json").json()
    return doc


def milestone(doc: dict[str, Any], key: str) -> dict[str, Any]:
    return next(m for m in doc["milestones"] if m["key"] == key)


# ----- 1. reschedule: a date keeps the time of day; working hours and midnight ----------------


def test_reschedule_to_a_date_keeps_the_definitions_time_of_day(cli: Cli) -> None:
    pid = str(create(cli, "Selskab R")["id"])
    out = cli("milestone", "reschedule", pid, "workshop", "--start", "2027-03-10").out
    assert "2027-03-10T09:00+01:00" in out
    moved = milestone(cli("programme", "show", pid, "--json").json(), "workshop")
    assert (moved["start"], moved["end"]) == (
        "2027-03-10T09:00:00+01:00",
        "2027-03-10T15:00:00+01:00",
    )


def test_reschedule_outside_working_hours_or_past_midnight_needs_force(cli: Cli) -> None:
    pid = str(create(cli, "Selskab H")["id"])
    for when, why in (("2027-03-10T21:00", "past midnight"), ("2027-03-10T12:00", "working")):
        refused = cli("milestone", "reschedule", pid, "workshop", "--start", when, check=False)
        assert refused.code == 2 and why in refused.err and "--force" in refused.err
        assert refused.err.count("\n") == 1
    workshop = milestone(cli("programme", "show", pid, "--json").json(), "workshop")
    assert workshop["start"] == "2027-03-08T09:00:00+01:00"
    cli("milestone", "reschedule", pid, "workshop", "--start", "2027-03-10T12:00", "--force")
    workshop = milestone(cli("programme", "show", pid, "--json").json(), "workshop")
    assert workshop["start"] == "2027-03-10T12:00:00+01:00"


# ----- 4. done early or out of order; cancel asks ---------------------------------------------


def test_done_on_a_future_milestone_or_out_of_order_needs_force(cli: Cli) -> None:
    pid = str(create(cli, "Selskab D")["id"])
    refused = cli("milestone", "done", pid, "workshop", check=False)
    assert refused.code == 2 and "has not taken place" in refused.err and "--force" in refused.err
    past = str(create(cli, "Selskab P", monday(-10), "--allow-past")["id"])
    out_of_order = cli("milestone", "done", past, "invitationer", check=False)
    assert out_of_order.code == 2 and "still open" in out_of_order.err
    assert "kortlaegning" in out_of_order.err
    states = {
        m["key"]: m["state"] for m in cli("programme", "show", pid, "--json").json()["milestones"]
    }
    assert states["workshop"] != "done"
    cli("milestone", "done", pid, "workshop", "--force")
    shown = cli("programme", "show", pid, "--json").json()
    assert milestone(shown, "workshop")["state"] == "done"


# ----- 5. keys in programme show; titles accepted ---------------------------------------------


def test_show_lists_the_keys_and_titles_are_accepted(cli: Cli) -> None:
    doc = create(cli, "Selskab K")
    pid = str(doc["id"])
    shown = cli("programme", "show", pid).out
    for m in doc["milestones"]:
        assert m["key"] in shown
    title = milestone(doc, "workshop")["title"]
    out = cli("milestone", "reschedule", pid, title.upper(), "--start", "2027-03-10").out
    assert "workshop at 2027-03-10T09:00+01:00" in out
    unknown = cli("milestone", "done", pid, "nonsense", check=False)
    assert unknown.code == 2 and "afsaet" in unknown.err and "workshop" in unknown.err


# ----- 2. a start in the past -----------------------------------------------------------------


def test_a_start_in_the_past_is_refused_unless_allowed(cli: Cli) -> None:
    typo = monday(-52)
    refused = cli(*create_args("Selskab T", typo), check=False)
    assert refused.code == 2 and "--allow-past" in refused.err and str(typo) in refused.err
    assert cli("programme", "list", "--json").json() == []
    create(cli, "Selskab N", monday(0))  # this week's Monday: a late registration, not a typo

    registered = cli(*create_args("Selskab U", monday(-10), "--allow-past"))
    assert "no mail is sent for them" in registered.err
    assert "afsaet" in registered.err and "invitationer" in registered.err
    pid = int(registered.out.split()[0].lstrip("#"))
    past = {
        m["key"]
        for m in cli("programme", "show", str(pid), "--json").json()["milestones"]
        if (m.get("end") or m["window_end"]) < datetime.now(CPH).isoformat()
    }
    queued = cli("outbox", "list", "--programme", str(pid), "--json").json()
    past_titles = {
        m["title"] for m in create(cli, "Probe", "2027-01-04")["milestones"] if m["key"] in past
    }
    assert queued and all(not any(t in row["subject"] for t in past_titles) for row in queued)
    assert not [r for r in queued if r["kind"] == "task_due"]


# ----- 3. the same programme twice ------------------------------------------------------------


def test_an_identical_active_programme_needs_duplicate(cli: Cli) -> None:
    first = create(cli, "Selskab Dobbelt")
    again = cli(*create_args("selskab  dobbelt", "2027-01-04"), check=False)
    assert again.code == 2 and f"programme {first['id']}" in again.err
    assert "--duplicate" in again.err
    assert len(cli("programme", "list", "--json").json()) == 1
    create(cli, "Selskab Dobbelt", "2027-01-11")  # another start is another programme
    create(cli, "Selskab Dobbelt", "2027-01-04", "--duplicate")
    assert len(cli("programme", "list", "--json").json()) == 3


# ----- 6. filters are checked; outbox list has --limit, subjects and local times ---------------


def test_invalid_filter_values_exit_2_naming_the_allowed_ones(cli: Cli) -> None:
    create(cli, "Selskab F")
    programmes = cli("programme", "list", "--state", "runing", check=False)
    assert programmes.code == 2 and "'runing'" in programmes.err
    assert "running" in programmes.err and "planned" in programmes.err
    outbox = cli("outbox", "list", "--state", "faild", check=False)
    assert outbox.code == 2 and "failed" in outbox.err and "pending" in outbox.err


def test_outbox_list_has_limit_subject_and_local_times(cli: Cli) -> None:
    pid = str(create(cli, "Selskab O")["id"])
    events = cli("programme", "show", pid, "--events", "--json").json()["events"]
    assert events and all(e["at"].endswith(("+01:00", "+02:00")) for e in events)
    everything = cli("outbox", "list", "--json").json()
    newest = cli("outbox", "list", "--limit", "2", "--json").json()
    assert len(everything) > 2 and newest == everything[-2:]
    assert all(row["due_at"].endswith(("+01:00", "+02:00")) for row in everything)
    summary = next(r for r in everything if r["kind"] == "programme_summary")
    assert summary["subject"].startswith("Forløbsplan")
    text = cli("outbox", "list", "--limit", "1").out
    assert everything[-1]["subject"] in text and ("+0100" in text or "+0200" in text)


# ----- 8. preparation before the start counts ------------------------------------------------


def test_time_can_be_logged_from_the_day_the_programme_was_created(cli: Cli) -> None:
    pid = str(create(cli, "Selskab Tid", monday(3))["id"])
    logged = cli("time", "log", pid, "--hours", "2", "--date", str(today()), "--json").json()
    assert logged["entry"]["hours"] == 2
    before = cli(
        "time", "log", pid, "--hours", "1", "--date", str(today() - timedelta(days=1)), check=False
    )
    assert before.code == 2 and "outside programme" in before.err


# ----- 9. keys and contacts as people type them ----------------------------------------------


def test_with_is_case_insensitive(cli: Cli) -> None:
    doc = create(cli, "Selskab C", "2027-01-04", "--with", "TILPASSET")
    assert doc["extensions"] == ["tilpasset"]
    plan = cli("plan", SB, "--start", "2027-01-04", "--with", "Tilpasset", "--json").json()
    assert any(m["workflow"] == "tilpasset" for m in plan["milestones"])


def test_digest_preview_takes_a_full_contact(cli: Cli) -> None:
    cli(
        *create_args("Selskab E", "2027-01-04")[:-4],
        "--consultant",
        "Mette Ærø <mette@bl.dk>",
        "--tovholder",
        "Tove <tove@e.dk>",
        "--start",
        "2027-01-04",
    )
    out = cli.home / "digest.html"
    done = cli("digest", "preview", "--consultant", "Mette Ærø <Mette@bl.dk>", "--out", str(out))
    assert "mette@bl.dk" in done.out and "Selskab E" in out.read_text("utf-8")


# ----- 10. deadlines passed and budgets exceeded say so -------------------------------------


def test_a_late_request_and_an_exceeded_budget_read_sensibly(cli: Cli) -> None:
    received = str(today() - timedelta(days=17))
    added = cli(
        "request",
        "add",
        "--org",
        "Sen",
        "--contact",
        "Karen <karen@sen.dk>",
        "--wished-start",
        str(monday(8)),
        "--received",
        received,
    )
    assert "3 days past the deadline" in added.out and "-3" not in added.out
    listed = cli("request", "list").out
    assert "3 days past the deadline" in listed and "-3" not in listed

    pid = str(create(cli, "Selskab B", monday(-1), "--allow-past")["id"])
    for offset in range(4):
        day = str(monday(-1) + timedelta(days=offset))
        cli("time", "log", pid, "--hours", "6", "--date", day)
    status = cli("time", "status", pid).out
    assert "over the maximum by 1.8 h" in status and "on track" not in status
    assert cli("time", "status", pid, "--json").json()["parts"][0]["pace"] == "ahead"


# ----- 7. TILPASSET is visible to the tovholder; the summary is current when sent -------------


def read_mails(cli: Cli) -> list[EmailMessage]:
    box = mailbox.Maildir(cli.maildir, factory=None, create=False)
    mails = []
    for key in sorted(box.keys()):
        with box.get_file(key) as handle:
            mails.append(email.message_from_bytes(handle.read(), policy=email.policy.default))
    return mails


def plain_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_the_summary_names_tilpasset_and_its_budget_and_shows_the_plan_when_sent(
    cli: Cli,
) -> None:
    doc = create(cli, "Selskab Kursus", "2027-01-04", "--with", "tilpasset")
    pid = str(doc["id"])
    cli("milestone", "reschedule", pid, "workshop", "--start", "2027-03-10")
    cli("outbox", "send")
    mails = read_mails(cli)
    [summary] = [m for m in mails if m["X-Fbh-Kind"] == "programme_summary"]
    assert "Socialt beredskab" in summary["Subject"] and "TILPASSET" in summary["Subject"]
    text = plain_text(summary)
    assert "5–10 timer på Kompetenceudvikling – TILPASSET" in text
    assert "14,8–22,2 timer" in text
    assert "onsdag den 10. marts 2027" in text.lower() or "10. marts 2027" in text
    assert "8. marts 2027" not in text  # the workshop's first date, before the reschedule
    course = [m["Subject"] for m in mails if "Afvikling af kurset" in str(m["Subject"])]
    assert course and all("TILPASSET" in s and "Socialt beredskab" not in s for s in course)


def run_on_a_terminal(cli: Cli, *args: str, answer: str) -> tuple[int, str]:
    """Run fbh with a pseudo-terminal as stdin and stdout, typing ``answer``."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(FBH), "--config", str(cli.config), *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=cli.env,
        cwd=cli.home,
    )
    os.close(follower)
    os.write(leader, answer.encode())
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    return proc.wait(timeout=60), output.decode(errors="replace")


def test_cancel_asks_on_a_terminal_and_yes_skips_it(cli: Cli) -> None:
    pid = str(create(cli, "Selskab Aflys")["id"])
    code, output = run_on_a_terminal(cli, "programme", "cancel", pid, answer="n\n")
    assert code == 1 and "Cancel programme" in output
    assert cli("programme", "show", pid, "--json").json()["state"] == "planned"
    code, output = run_on_a_terminal(cli, "programme", "cancel", pid, "--yes", answer="")
    assert code == 0 and "Cancel programme" not in output
    assert cli("programme", "show", pid, "--json").json()["state"] == "cancelled"
