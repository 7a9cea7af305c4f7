"""The language of what fbh says to its users on the command line: Danish by default, English
on request (gettext catalogs; the standard library only, so every layer may use it).

Messages are written in English in the code (``_("…")``) and translated with the catalog in
``engine/locale/da/LC_MESSAGES/fbh.mo`` (its source, ``fbh.po``, is kept complete by
``scripts/i18n.sh``). English needs no catalog: the message ids are the English text.

The language, first match wins:

1. ``LC_ALL``, ``LC_MESSAGES`` or ``LANG`` (the first one set, as POSIX reads them) when it
   names English (``en…``) or Danish (``da…``); ``C``/``POSIX`` and other languages say nothing;
2. ``[engine] language = "da" | "en"`` in the config file (``--config``, ``FBH_CONFIG`` or
   ``./config.toml``);
3. Danish.

JSON output is never translated: its keys and state values are a contract.
"""

from __future__ import annotations

import gettext
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

DOMAIN = "fbh"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"  # engine/locale
LANGUAGES = ("da", "en")
DEFAULT_LANGUAGE = "da"


def language_from_env(env: Mapping[str, str]) -> str | None:
    """``da`` or ``en`` when the locale variables name one, else None."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if not value:
            continue
        code = value.split(".")[0].split("_")[0].lower()
        return code if code in LANGUAGES else None
    return None


def language_from_config(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """``[engine] language`` of the config file the command will use, if it says one."""
    path = env.get("FBH_CONFIG") or "config.toml"
    for index, arg in enumerate(argv):
        if arg == "--config" and index + 1 < len(argv):
            path = argv[index + 1]
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
    try:
        with open(path, "rb") as handle:
            engine = tomllib.load(handle).get("engine", {})
    except (OSError, tomllib.TOMLDecodeError, ValueError):
        return None  # loading the config proper reports what is wrong with it
    value = engine.get("language") if isinstance(engine, dict) else None
    return value if value in LANGUAGES else None


def choose_language(argv: Sequence[str], env: Mapping[str, str]) -> str:
    return language_from_env(env) or language_from_config(argv, env) or DEFAULT_LANGUAGE


@lru_cache(maxsize=2)
def translations(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=True)


_chosen: list[str] = []  # the language of this process, chosen on first use


def language() -> str:
    if not _chosen:
        _chosen.append(choose_language(sys.argv[1:], os.environ))
    return _chosen[0]


def current() -> gettext.NullTranslations:
    return translations(language())


def use_language(code: str) -> None:
    """Switch the language (for tests, and for the catalog script)."""
    _chosen[:] = [code]


def _(message: str) -> str:
    return current().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return current().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it here."""
    return message
