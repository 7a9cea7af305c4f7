"""Answering requests through the real ``fbh`` command."""

from __future__ import annotations

import email
import email.policy
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from fbhcli import Cli

CPH = ZoneInfo("Europe/Copenhagen")


def today() -> date:
    return datetime.now(CPH).date()


def add(cli: Cli) -> int:
    view = cli(
        "request",
        "add",
        "--org",
        "Boligselskabet Østervang",
        "--contact",
        "Kirsten Kontakt <kirsten@oestervang.dk>",
        "--wished-start",
        (today() + timedelta(days=40)).isoformat(),
        "--json",
    ).json()
    return int(view["id"])


def test_assign_propose_and_accept(cli: Cli) -> None:
    request_id = add(cli)
    assigned = cli("request", "assign", str(request_id), "--consultant", "Anne <anne@bl.dk>")
    assert assigned.out.strip() == f"request {request_id}: assigned to Anne <anne@bl.dk> [received]"

    first = today() + timedelta(days=28 - today().weekday())
    second = first + timedelta(days=14)
    proposed = cli(
        "request",
        "propose",
        str(request_id),
        "--start",
        second.isoformat(),
        "--start",
        first.isoformat(),
        "--json",
    ).json()
    assert proposed["state"] == "proposed"

    assert cli("outbox", "send").code == 0
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in (cli.maildir / "new").iterdir()
    ]
    proposal = next(m for m in mails if m["X-Fbh-Kind"] == "request_proposal")
    assert proposal["To"].addresses[0].addr_spec == "kirsten@oestervang.dk"
    assert str(proposal["Subject"]).startswith("Forslag til startdatoer: Socialt beredskab")
    text = proposal.get_body(("plain",)).get_content()
    assert f"(uge {first.isocalendar().week})" in text
    assert "Workshop om socialt beredskab forventes at ligge" in text

    accepted = cli(
        "request",
        "accept",
        str(request_id),
        "--start",
        first.isoformat(),
        "--consultant",
        "Anne <anne@bl.dk>",
        "--tovholder",
        "Søren <soren@oestervang.dk>",
        "--municipality",
        "Helsingør",
        "--json",
    ).json()
    assert accepted["state"] == "accepted"
    assert accepted["programme_id"] == accepted["programme"]["id"]
    assert accepted["programme"]["start"] == first.isoformat()
    listed = cli("request", "list", "--json").json()
    assert [(r["id"], r["state"]) for r in listed] == [(request_id, "accepted")]


def test_errors_are_one_line(cli: Cli) -> None:
    request_id = add(cli)
    past = cli("request", "propose", str(request_id), "--start", "2020-01-06", check=False)
    assert (past.code, past.err.strip()) == (2, "error: --start 2020-01-06 lies in the past")
    cli("request", "decline", str(request_id), "--reason", "dubleret")
    again = cli("request", "decline", str(request_id), check=False)
    assert again.code == 2
    assert again.err.strip().startswith("error: request in state 'declined' cannot 'decline'")
    missing = cli("request", "propose", "99", "--start", "2030-01-07", check=False)
    assert (missing.code, missing.err.strip()) == (2, "error: request 99 not found")
