"""``fbh programme link ID [--revoke]`` as the operator runs it."""

from __future__ import annotations

import re

from fbhcli import Cli
from test_serve import create_args

TOKEN = r"[A-Za-z0-9_-]{43}"


def test_link_prints_a_new_path_each_time_and_revoke_counts(cli: Cli) -> None:
    cli(*create_args("Boligselskabet Østervang"))
    first, second = cli("programme", "link", "1"), cli("programme", "link", "1")
    for result in (first, second):
        assert re.fullmatch(rf"/p/{TOKEN}\n", result.out), result.out
        assert "[http] listen is not set" in result.err
    assert first.out != second.out
    assert cli("programme", "link", "1", "--revoke").out == (
        "2 page links revoked for programme 1\n"
    )
    assert cli.danish()("programme", "link", "1", "--revoke").out == (
        "0 sidelinks tilbagekaldt for forløb 1\n"
    )


def test_with_public_url_the_link_is_a_full_url(cli: Cli) -> None:
    text = cli.config.read_text("utf-8")
    cli.config.write_text(
        text + '\n[http]\nlisten = "127.0.0.1:8765"\npublic_url = "https://fbh.bl.dk/"\n',
        encoding="utf-8",
    )
    cli(*create_args("Boligselskabet Østervang"))
    result = cli("programme", "link", "1")
    assert re.fullmatch(rf"https://fbh\.bl\.dk/p/{TOKEN}\n", result.out), result.out
    assert result.err == ""


def test_unknown_and_cancelled_programmes_are_one_line_errors(cli: Cli) -> None:
    cli(*create_args("Boligselskabet Østervang"))
    cli("programme", "cancel", "1", "--yes")
    cases = [
        (("programme", "link", "7"), "error: programme 7 not found"),
        (("programme", "link", "1"), "error: programme 1 is cancelled: it has no tovholder page"),
        (("programme", "link", "x"), "error: "),
    ]
    for args, message in cases:
        result = cli(*args, check=False)
        assert result.code == 2, args
        assert result.err.startswith(message), result.err
        assert result.err.count("\n") == 1 and result.out == ""
    danish = cli.danish()("programme", "link", "1", check=False)
    assert danish.err == "error: forløb 1 er aflyst: det har ingen tovholderside\n"
