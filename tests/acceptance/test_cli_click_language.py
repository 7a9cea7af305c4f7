"""Typer's own help and usage errors (its vendored click has no gettext) in Danish; English
stays click's wording. The help is checked with the installed ``fbh`` script (Typer reads
``TYPER_USE_RICH`` when it is imported, which a forked run has done before); the usage errors
with the forked runs (tests/acceptance/test_cli_forked.py shows they say what the script says,
``FBH_TEST_CLI=binary`` runs the script). And the read commands' human output names messages
and steps in Danish, while their JSON keeps the names."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from fbhcli import Cli

ENGLISH_HELP = ("Usage", "[OPTIONS]", "COMMAND", "Show this message", "Options", "Arguments")
ENGLISH_HELP += ("[default", "[required", "env var", "Commands")


@pytest.fixture
def binary(fresh_cli: Cli) -> Cli:
    return replace(fresh_cli, forked=False)


def test_help_is_danish_and_english_stays_clicks(binary: Cli) -> None:
    danish = binary.danish()
    root = danish("--help").out
    assert root.startswith("Brug: fbh [TILVALG] KOMMANDO [ARGUMENTER]...\n"), root
    assert re.search(r"^  --help\s+Vis denne hjælp og afslut\.$", root, re.M), root
    assert "\nTilvalg:\n" in root and "\nKommandoer:\n" in root
    assert "[miljøvariabel: FBH_CONFIG]" in root and "[standard: 0]" in root
    create = danish("programme", "create", "--help").out
    assert create.startswith("Brug: fbh programme create [TILVALG]\n") and "[påkrævet]" in create
    show = danish("programme", "show", "--help").out
    assert "\nArgumenter:\n" in show
    bare = danish("programme", check=False)  # a bare group: its help on stderr, exit 2
    assert bare.code == 2 and bare.err.startswith("Brug: fbh programme [TILVALG] KOMMANDO")
    rich = replace(danish, env=danish.env | {"TYPER_USE_RICH": "1", "FORCE_COLOR": "1"})
    assert rich("programme", "create", "--help").out == create  # plain either way
    for text in (root, create, show, bare.err):
        assert not [word for word in ENGLISH_HELP if word in text], text

    english = binary.in_language("en_US.UTF-8")("--help").out
    assert english.startswith("Usage: fbh [OPTIONS] COMMAND [ARGS]...\n")
    assert "Show this message and exit." in english and "\nOptions:\n" in english


# (arguments, the Danish line, the English line): one line on stderr, exit 2
USAGE_ERRORS = [
    (("--foo",), "Tilvalget findes ikke: --foo", "No such option: --foo"),
    (("programme", "create"), "Mangler tilvalg '--workflow'.", "Missing option '--workflow'."),
    (("programme", "show"), "Mangler argument 'ID'.", "Missing argument 'ID'."),
    (("plan", "socialt-beredskab", "--start"), "Tilvalget '--start' kræver en værdi.",
     "Option '--start' requires an argument."),
    (("status", "--json=1"), "Tilvalget '--json' tager ingen værdi.",
     "Option '--json' does not take a value."),
    (("status", "extra"), "Uventede ekstra argumenter (extra)",
     "Got unexpected extra argument(s) (extra)"),
    (("outbox", "list", "--limit", "0"), "Ugyldig værdi for '--limit': skal være mindst 1",
     "Invalid value for '--limit': Input should be greater than or equal to 1"),
    (("outbox", "list", "--limit", "x"), "Ugyldig værdi for '--limit': forventede et helt tal",
     "Invalid value for '--limit': Input should be a valid integer, unable to parse string as "
     "an integer"),
    (("stat",), "Kommandoen 'stat' findes ikke. Mente du 'status'?",
     "No such command 'stat'. Did you mean 'status'?"),
    (("programme", "lst"), "Kommandoen 'lst' findes ikke. Mente du 'list'?",
     "No such command 'lst'. Did you mean 'list'?"),
]  # fmt: skip


def test_usage_errors_are_one_line_in_the_language(fresh_cli: Cli) -> None:
    for args, danish, english in USAGE_ERRORS:
        for lang, line in (("da_DK.UTF-8", danish), ("en_US.UTF-8", english)):
            done = fresh_cli.in_language(lang)(*args, check=False)
            assert (done.code, done.out, done.err) == (2, "", f"error: {line}\n"), (args, lang)


def test_status_and_the_outbox_name_messages_in_danish_and_json_keeps_the_names(
    cli: Cli,
) -> None:
    cli(
        "programme", "create", "--workflow", "socialt-beredskab", "--org", "Selskab Ord",
        "--municipality", "Helsingør", "--consultant", "Anne Konsulent <anne@bl.dk>",
        "--tovholder", "Tove <tove@ord.dk>", "--start", "2027-01-04",
    )  # fmt: skip
    status = cli.danish()("status").out
    line = next(x for x in status.splitlines() if x.startswith("næste: "))
    assert re.fullmatch(r"næste: \S+ besked: invitation til \S+@\S+ \(#\d+\)", line), line
    detail = cli("status", "--json").json()["next_due"]["detail"]
    assert re.fullmatch(r"invite to \S+@\S+ \(#\d+\)", detail), detail
    assert re.search(r"^next due: \S+ message: invite to ", cli("status").out, re.M)

    listed = cli.danish()("outbox", "list").out.splitlines()
    assert listed and all(re.match(r"#\d+\s+i kø\s", row) for row in listed), listed
    shown = cli.danish()("outbox", "show", "1").out
    assert re.search(r"^  tilstand:\s+i kø$", shown, re.M), shown
    assert re.search(r"^  slags:\s+invitation \(invite\)$", shown, re.M), shown
    assert cli("outbox", "show", "1", "--json").json()["state"] == "pending"
