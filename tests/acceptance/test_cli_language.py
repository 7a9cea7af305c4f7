"""Issue 12, §3: the CLI speaks Danish by default and English on request; JSON never changes."""

from __future__ import annotations

from fbhcli import Cli, Result

SB = "socialt-beredskab"


def in_language(cli: Cli, lang: str, *args: str, check: bool = True) -> Result:
    return cli.in_language(lang)(*args, check=check)


def create(cli: Cli) -> str:
    doc = cli(
        "programme",
        "create",
        "--workflow",
        SB,
        "--org",
        "Selskab Sprog",
        "--municipality",
        "Helsingør",
        "--consultant",
        "Anne Konsulent <anne@bl.dk>",
        "--tovholder",
        "Tove <tove@sprog.dk>",
        "--start",
        "2027-01-04",
        "--json",
    ).json()
    return str(doc["id"])


def test_programme_show_is_danish_with_a_danish_locale_and_english_with_an_english_one(
    cli: Cli,
) -> None:
    pid = create(cli)
    danish = in_language(cli, "da_DK.UTF-8", "programme", "show", pid).out
    english = in_language(cli, "en_US.UTF-8", "programme", "show", pid).out
    for word in ("nøgle", "milepæl", "vindue", "konsulent", "Helsingør Kommune", "[planlagt]"):
        assert word in danish, word
    for word in ("key", "milestone", "window", "consultant", "Helsingør municipality"):
        assert word in english, word
    assert "[planned]" in english and "man 2027-01-04" in danish and "Mon 2027-01-04" in english
    assert "milestone" not in danish and "nøgle" not in english


def test_danish_is_the_default_and_the_config_can_choose_english(cli: Cli) -> None:
    pid = create(cli)
    neutral = in_language(cli, "C.UTF-8", "programme", "list").out
    assert "planlagt" in neutral
    cli.config.write_text(
        cli.config.read_text("utf-8").replace("[engine]", '[engine]\nlanguage = "en"'), "utf-8"
    )
    assert "planned" in in_language(cli, "C.UTF-8", "programme", "list").out
    assert "planlagt" in in_language(cli, "da_DK.UTF-8", "programme", "list").out
    assert pid


def test_json_help_errors_and_time_status_follow_the_language(cli: Cli) -> None:
    pid = create(cli)
    for args in (("programme", "show", pid, "--json"), ("time", "status", pid, "--json")):
        danish = in_language(cli, "da_DK.UTF-8", *args).json()
        assert danish == in_language(cli, "en_US.UTF-8", *args).json()
    assert danish["parts"][0]["status"] == "under"
    status = in_language(cli, "da_DK.UTF-8", "time", "status", pid).out
    assert "forløb" in status and " af " in status and "tempo" in status
    helped = in_language(cli, "da_DK.UTF-8", "programme", "create", "--help").out
    assert "Opret et forløb" in helped and "Tilvalg" in helped
    refused = in_language(cli, "da_DK.UTF-8", "programme", "list", "--state", "x", check=False)
    assert refused.code == 2 and refused.err.startswith("error: ugyldig --state 'x'")
