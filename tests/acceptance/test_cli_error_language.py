"""Issue 12, §3: the errors raised below the CLI (services, domain, store, config) and the
status, outbox and plan notes follow the chosen language like the rest of the CLI."""

from __future__ import annotations

import pytest
from fbhcli import Cli

SB = "socialt-beredskab"

# (arguments, the Danish error, the English error); {pid} is a programme that exists
ERRORS = [
    (("plan", "socialt-beredskb", "--start", "2027-01-04"),
     "error: forløbstype 'socialt-beredskb' findes ikke",
     "error: workflow 'socialt-beredskb' not found"),
    (("programme", "show", "9999"), "error: forløb 9999 findes ikke",
     "error: programme 9999 not found"),
    (("programme", "show", "x1"), "error: ugyldigt forløbs-id 'x1': forventede et helt tal",
     "error: invalid programme id 'x1': expected a whole number"),
    (("plan", SB, "--start", "2027-13-04"),
     "error: ugyldig dato '2027-13-04' for --start: forventede ÅÅÅÅ-MM-DD",
     "error: invalid date '2027-13-04' for --start: expected YYYY-MM-DD"),
    (("milestone", "done", "{pid}", "nonsuch"),
     "error: milepælen 'nonsuch' findes ikke i forløb {pid}",
     "error: milestone 'nonsuch' not found in programme {pid}"),
    (("time", "status", "9999"), "error: forløb 9999 findes ikke",
     "error: programme 9999 not found"),
    (("request", "decline", "9999"), "error: henvendelse 9999 findes ikke",
     "error: request 9999 not found"),
    (("programme", "create", "--workflow", SB, "--org", "Sprog", "--municipality", "Helsingør",
      "--consultant", "Anne <anne@bl>", "--tovholder", "Tove <tove@sprog.dk>",
      "--start", "2027-02-01"),
     "error: --consultant: ugyldig kontakt 'Anne <anne@bl>': forventede 'Navn <e-mail>'",
     "error: --consultant: invalid contact 'Anne <anne@bl>': expected 'Name <email>'"),
]  # fmt: skip


@pytest.fixture
def pid(cli: Cli) -> str:
    doc = cli(
        "programme", "create", "--workflow", SB, "--org", "Selskab Sprog",
        "--municipality", "Helsingør", "--consultant", "Anne Konsulent <anne@bl.dk>",
        "--tovholder", "Tove <tove@sprog.dk>", "--start", "2027-01-04", "--json",
    ).json()  # fmt: skip
    return str(doc["id"])


def test_errors_below_the_cli_are_danish_or_english_as_chosen(cli: Cli, pid: str) -> None:
    for args, danish, english in ERRORS:
        argv = [a.format(pid=pid) for a in args]
        for lang, expected in (("da_DK.UTF-8", danish), ("en_US.UTF-8", english)):
            done = cli.in_language(lang)(*argv, check=False)
            assert done.code == 2, (lang, argv, done.err)
            assert done.err.startswith(expected.format(pid=pid)), (lang, argv, done.err)
            assert done.err.count("\n") == 1 and "Traceback" not in done.err


def test_status_outbox_and_the_closure_note_follow_the_language(cli: Cli, pid: str) -> None:
    danish, english = cli.in_language("da_DK.UTF-8"), cli.in_language("en_US.UTF-8")
    status = danish("status").out.splitlines()
    assert status[0] == f"konfiguration: {cli.config}" and status[1].startswith("database: ")
    assert status[2].startswith("dæmoner: 0 i live") and status[3].startswith("udbakke: ")
    status = english("status").out.splitlines()
    assert status[0] == f"config: {cli.config}" and status[2].startswith("daemons: 0 alive")
    assert status[3].startswith("outbox: ") and " pending, " in status[3]
    assert danish("outbox", "send").out.strip().splitlines()[-1].startswith("sendt ")
    assert english("outbox", "send").out.strip().splitlines()[-1].startswith("sent ")
    start = ("plan", SB, "--start", "2026-12-28")
    assert "lukkeperioden jul og nytår (2026-12-24 – 2027-01-01) tog " in danish(*start).out
    plan = english(*start).out
    assert "the closure jul og nytår (2026-12-24 – 2027-01-01) took " in plan
    assert "arbejdsdag" not in plan and "i stedet for" not in plan
    # the contract JSON does not change with the language (its "moved" note is Danish)
    assert danish(*start, "--json").json() == english(*start, "--json").json()
