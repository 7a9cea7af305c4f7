"""The Danish catalog is complete and compiled; the language is chosen as documented."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType

from babel.messages.mofile import write_mo

from engine.cli import i18n

REPO = Path(__file__).resolve().parents[2]


def catalog_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("i18n_script", REPO / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_message_of_the_cli_has_a_danish_translation() -> None:
    script = catalog_script()
    pot = script.template()
    assert len(pot) > 150  # help texts and messages were found
    assert script.missing(pot, script.load_po()) == []


def test_the_shipped_mo_is_compiled_from_the_po() -> None:
    script = catalog_script()
    compiled = io.BytesIO()
    write_mo(compiled, script.load_po())
    assert script.MO.read_bytes() == compiled.getvalue(), "run scripts/i18n.sh"


def test_the_locale_decides_then_the_config_then_danish(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[engine]\nlanguage = "en"\n', "utf-8")
    argv = ["--config", str(config), "programme", "list"]
    assert i18n.choose_language(argv, {"LANG": "da_DK.UTF-8"}) == "da"
    assert i18n.choose_language(argv, {"LC_ALL": "C.UTF-8", "LANG": "da_DK.UTF-8"}) == "en"
    assert i18n.choose_language([], {"LANG": "C.UTF-8", "FBH_CONFIG": str(config)}) == "en"
    assert i18n.choose_language(["--config", str(tmp_path / "none.toml")], {}) == "da"
    assert i18n.choose_language([], {"LC_MESSAGES": "en_GB.UTF-8", "LANG": "da_DK"}) == "en"


def test_danish_and_english_texts() -> None:
    try:
        i18n.use_language("da")
        assert i18n._("no programmes") == "ingen forløb"
        assert i18n.ngettext("{n} day left", "{n} days left", 3).format(n=3) == "3 dage tilbage"
        i18n.use_language("en")
        assert i18n._("no programmes") == "no programmes"
    finally:
        i18n.use_language("en")
