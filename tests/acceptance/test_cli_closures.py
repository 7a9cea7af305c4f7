"""`fbh plan` around the default closure, 24 December – 1 January: no meeting in it, and the
plan says which dates moved and why."""

from __future__ import annotations

from fbhcli import Cli


def test_plan_moves_a_meeting_out_of_christmas_and_says_so(cli: Cli) -> None:
    plan = cli("plan", "socialt-beredskab", "--start", "2026-12-28", "--json").json()
    first = plan["milestones"][0]
    assert first["start"].startswith("2027-01-04T")
    assert "jul og nytår (2026-12-24 – 2027-01-01)" in first["moved"]
    text = cli.danish()("plan", "socialt-beredskab", "--start", "2026-12-28").out
    assert "Flyttet på grund af lukkeperioder" in text
    assert f"{first['title']}: lukkeperioden jul og nytår" in text


def test_closures_can_be_switched_off(cli: Cli) -> None:
    text = cli.config.read_text(encoding="utf-8")
    cli.config.write_text(text.replace("[engine]\n", "[engine]\nclosures = []\n"), "utf-8")
    plan = cli("plan", "socialt-beredskab", "--start", "2026-12-28", "--json").json()
    assert plan["milestones"][0]["start"].startswith("2026-12-28T")
    assert not any("moved" in m for m in plan["milestones"])
