"""Limits on free text, control characters and secrets, through the installed ``fbh`` (issue 13,
§5-§7). Every refusal is exit 2 with one ``error:`` line; nothing printed carries a control
character or a password."""

from __future__ import annotations

import sqlite3
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fbhcli import Cli, Result

CPH = ZoneInfo("Europe/Copenhagen")
BIG = "x" * 100_000
ESCAPES = "Aar\x1b[2J\x1b]0;pwned\x07hus"  # clear screen, then retitle the terminal
SECRET = "pwSECRET8"


def start() -> str:
    today = datetime.now(CPH).date()
    return (today + timedelta(days=35 - today.weekday())).isoformat()


def one_error(result: Result) -> str:
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err[:500]
    assert result.out == ""
    return lines[0]


def controls(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t"]


def add_request(cli: Cli) -> str:
    return str(
        cli(
            "request",
            *("add", "--org", "Østervang", "--contact", "Kirsten <kirsten@oestervang.dk>"),
            *("--wished-start", start(), "--json"),
        ).json()["id"]
    )


def accept(cli: Cli, request_id: str, *, municipality: str, consultant: str) -> Result:
    return cli(
        *("request", "accept", request_id, "--start", start(), "--municipality", municipality),
        *("--consultant", consultant, "--tovholder", "Søren <soren@oestervang.dk>"),
        check=False,
    )


# ----- §5: limits and control characters -----------------------------------------------------


@pytest.mark.parametrize(
    ("municipality", "message"),
    [
        (BIG, "--municipality is longer than 200 characters (100000)"),
        (ESCAPES, "--municipality 'Aar\\x1b[2J\\x1b]0;pwned\\x07hus': control characters"),
    ],
)
def test_request_accept_checks_the_municipality(cli: Cli, municipality: str, message: str) -> None:
    """Was: both stored, and ``programme list`` printed the raw ESC sequences."""
    request_id = add_request(cli)
    line = one_error(accept(cli, request_id, municipality=municipality, consultant="A <a@bl.dk>"))
    assert message in line
    assert cli("request", "list", "--json").json()[0]["state"] == "received"


def test_a_consultant_name_of_100000_characters_is_refused(cli: Cli) -> None:
    """Was: accepted, and its invites failed for good with ``500 Line too long``."""
    request_id = add_request(cli)
    line = one_error(accept(cli, request_id, municipality="Aarhus", consultant=f"{BIG} <a@bl.dk>"))
    assert line.startswith("error: --consultant: invalid contact 'xxx")
    assert "longer than" in line and len(line) < 300


@pytest.mark.parametrize("name", ["A" * 200, "Anne " + "Æ" * 195])
def test_a_name_of_200_characters_is_accepted_and_mailed(cli: Cli, name: str) -> None:
    """At the limit, every line of every mail stays within SMTP's 998 octets."""
    request_id = add_request(cli)
    assert accept(cli, request_id, municipality="Aarhus", consultant=f"{name} <a@bl.dk>").code == 0
    sent = cli("outbox", "send", "--json").json()
    assert sent["failed"] == 0 and sent["sent"] > 0
    mails = list((cli.maildir / "new").iterdir())
    assert mails
    for mail in mails:
        longest = max(len(line) for line in mail.read_bytes().splitlines())
        assert longest <= 998, (mail.name, longest)


def test_request_decline_limits_the_reason(cli: Cli) -> None:
    """Was: a 100 KB reason was accepted into the event log."""
    request_id = add_request(cli)
    result = cli("request", "decline", request_id, "--reason", BIG, check=False)
    assert "--reason is longer than 1000 characters (100000)" in one_error(result)
    reason = "Ikke plads før " + date(2027, 9, 1).isoformat()
    assert cli("request", "decline", request_id, "--reason", reason).code == 0


def test_stored_control_characters_are_not_printed(cli: Cli) -> None:
    """Text stored by an older fbh (or arriving by mail) is printed without its control
    characters: ``programme list``/``show`` and ``request list`` cannot drive the terminal."""
    request_id = add_request(cli)
    assert accept(cli, request_id, municipality="Aarhus", consultant="A <a@bl.dk>").code == 0
    database = cli.home / "var" / "fbh.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE programmes SET municipality = ?", (ESCAPES,))
        connection.execute("UPDATE organisations SET name = ?", ("Øst\x9b2J\x1b[31m",))
        connection.execute("UPDATE requests SET organisation = ?", ("Øst\x1b]0;x\x07",))
    for args in (
        ("programme", "list"),
        ("programme", "show", "1"),
        ("programme", "show", "1", "--json"),
        ("programme", "list", "--json"),
        ("request", "list"),
    ):
        result = cli(*args)
        assert not controls(result.out + result.err), (args, result.out[:300])
        assert "Aar" in result.out or "Øst" in result.out, args


# ----- §6 and §7 through the real command -----------------------------------------------------


def write_config(cli: Cli, text: str | bytes) -> Path:
    path = cli.home / "bad.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (f"[mail]\nbatch_size = {10**30}", "mail.batch_size: must be between 1 and 10000"),
        (f"[daemon]\nbatch_size = {10**30}", "daemon.batch_size: must be between 1 and 10000"),
        ("[mail]\nretry_cap_seconds = 1e308", "mail.retry_cap_seconds: must be between"),
        ("[daemon]\npoll_seconds = inf", "daemon.poll_seconds: must be between 0.1 and 86400"),
        ("[daemon]\nleader_check_seconds = 1e-9", "daemon.leader_check_seconds: must be between"),
    ],
)
def test_config_numbers_out_of_range_exit_2(cli: Cli, toml: str, expected: str) -> None:
    path = write_config(cli, toml)
    line = one_error(cli("--config", str(path), "status", check=False))
    assert line == f"error: {path}: {expected}" or line.startswith(f"error: {path}: {expected}")


def test_a_config_file_that_is_not_utf8_exits_2(cli: Cli) -> None:
    path = write_config(cli, '[mail]\nsender = "Bol\xe6ig <a@b.dk>"\n'.encode("latin-1"))
    line = one_error(cli("--config", str(path), "status", check=False))
    assert line == f"error: {path}: not UTF-8 text (byte 0xe6 at offset 20); save it as UTF-8"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgresql+psycopg//postgres:{SECRET}@127.0.0.1/test", "expected e.g."),
        (f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:abc/test", "must be a number"),
    ],
)
def test_a_bad_database_url_is_one_line_without_the_password(
    cli: Cli, url: str, expected: str
) -> None:
    """Was: the password in the error, and "unexpected ValueError" with exit 1 for the port."""
    with_url = Cli(cli.home, cli.config, cli.env | {"FBH_DATABASE_URL": url})
    result = with_url("status", check=False)  # status names the config and database first
    assert result.code == 2 and len(result.err.splitlines()) == 1, result
    line = result.err.strip()
    assert line.startswith("error: FBH_DATABASE_URL: invalid database URL ") and expected in line
    assert SECRET not in result.out + result.err and "***" in line
    verbose = with_url("-vv", "status", check=False)  # the log names the database too
    assert verbose.code == 2 and "***" in verbose.err
    assert SECRET not in verbose.out + verbose.err


def test_an_unreachable_database_does_not_show_its_password(cli: Cli) -> None:
    env = cli.env | {
        "FBH_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/test",
        "FBH_DATABASE_PASSWORD": SECRET,
    }
    result = Cli(cli.home, cli.config, env)("-vv", "status", check=False)
    assert result.code == 3, result
    assert SECRET not in result.out + result.err
    assert "postgresql+psycopg://postgres:***@127.0.0.1:1/test" in result.err


def test_a_password_in_the_config_file_is_refused(cli: Cli) -> None:
    text = cli.config.read_text().replace(
        'url = "sqlite:///var/fbh.sqlite3"', f'url = "postgresql+psycopg://fbh:{SECRET}@db/fbh"'
    )
    path = write_config(cli, text)
    line = one_error(cli("--config", str(path), "status", check=False))
    assert line.startswith(f"error: {path}: database.url: a password is not read from the file")
    assert SECRET not in line
