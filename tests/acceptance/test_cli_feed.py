"""``fbh feed token`` and ``fbh feed export`` as the operator runs them."""

from __future__ import annotations

from fbhcli import Cli
from icalendar import Calendar
from test_serve import create_args


def test_token_revoke_and_export(cli: Cli) -> None:
    cli(*create_args("Boligselskabet Østervang"))

    first = cli("feed", "token", "K0@bl.dk")
    second = cli("feed", "token", "k0@bl.dk")
    assert first.out != second.out
    for result in (first, second):
        assert result.out.startswith("/feeds/") and result.out.endswith(".ics\n")
        assert "[http] listen is not set" in result.err
    assert cli("feed", "token", "k0@bl.dk", "--revoke").out == (
        "2 feed tokens revoked for k0@bl.dk\n"
    )

    out = cli.home / "anne.ics"
    assert cli("feed", "export", "k0@bl.dk", "--out", str(out)).out == (
        f"4 meetings written to {out}\n"
    )
    danish = cli.danish()("feed", "export", "k0@bl.dk", "--out", str(out))
    assert danish.out == f"4 møder skrevet til {out}\n"
    calendar = Calendar.from_ical(out.read_bytes())
    assert len(calendar.walk("VEVENT")) == 4
    assert str(calendar["METHOD"]) == "PUBLISH"


def test_unknown_people_and_bad_paths_are_one_line_errors(cli: Cli) -> None:
    cli(*create_args("Boligselskabet Østervang"))
    cases = [
        (("feed", "token", "nobody@bl.dk"), "error: person with e-mail 'nobody@bl.dk' not found"),
        (("feed", "token", "not an address"), "error: EMAIL: invalid contact"),
        (
            ("feed", "export", "k0@bl.dk", "--out", str(cli.home / "missing" / "x.ics")),
            "error: --out",
        ),
    ]
    for args, message in cases:
        result = cli(*args, check=False)
        assert result.code == 2, args
        assert result.err.startswith(message), result.err
        assert result.err.count("\n") == 1
        assert result.out == ""
