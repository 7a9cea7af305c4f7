"""Keep the Danish catalog of the CLI complete: extract, update, compile (run scripts/i18n.sh).

The message ids come from two places:

* ``_()``, ``ngettext()`` and ``N_()`` calls in ``engine/cli``, ``engine/services``,
  ``engine/domain``, ``engine/store``, ``engine/config``, ``engine/backends`` and
  ``notifications`` (Babel's Python extractor; the messages of errors raised below the CLI);
* the help texts of every command and option, read from the built click command tree (they
  are docstrings and ``help=`` arguments, which no extractor sees).

``python scripts/i18n.py`` writes ``engine/locale/fbh.pot``, merges it into
``engine/locale/da/LC_MESSAGES/fbh.po`` (new ids arrive untranslated) and compiles ``fbh.mo``.
``python scripts/i18n.py --check`` changes nothing and exits 1 naming every id that has no
Danish translation (tests/unit/test_i18n.py runs the same check).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "engine" / "locale"
POT = LOCALE / "fbh.pot"
PO = LOCALE / "da" / "LC_MESSAGES" / "fbh.po"
MO = LOCALE / "da" / "LC_MESSAGES" / "fbh.mo"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


# where _() may be called: the CLI, and every layer below it whose errors reach the user
SOURCES = (
    "engine/cli",
    "engine/services",
    "engine/domain",
    "engine/store",
    "engine/config",
    "engine/backends",
    "notifications",
)


def code_messages() -> Iterator[tuple[str | tuple[str, str], str]]:
    for folder in SOURCES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT / folder), keywords=KEYWORDS, comment_tags=()
        ):
            yield message, f"{folder}/{filename}:{lineno}"


def help_messages() -> Iterator[tuple[str, str]]:
    """Every help text of the command tree, in English."""
    sys.path.insert(0, str(ROOT))
    from engine.domain import i18n

    i18n.use_language("en")
    from engine.cli.main import COMMANDS, build_command

    root = build_command()
    for text in (root.help, *(help_text for _m, _a, help_text in COMMANDS.values())):
        yield text.strip(), "fbh"

    def walk(command: Any, path: str, ctx: Any) -> Iterator[tuple[str, str]]:
        for attribute in ("help", "short_help"):
            text = getattr(command, attribute, None)
            if text:
                yield text.strip(), path
        for param in command.params:
            if getattr(param, "help", None):
                yield param.help, f"{path}/{param.name}"
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None:
                    yield from walk(sub, f"{path}/{name}", type(ctx)(sub, parent=ctx))

    yield from walk(root, "fbh", root.make_context("fbh", [], resilient_parsing=True))


def template() -> Catalog:
    catalog = Catalog(project="fbh", charset="utf-8")
    for message, where in [*code_messages(), *help_messages()]:
        location = _loc(where) if ":" in where else (where, 0)
        existing = catalog.get(message)
        if existing is not None:
            existing.locations.append(location)
        else:
            catalog.add(message, locations=[location])
    return catalog


def _loc(where: str) -> tuple[str, int]:
    name, _, line = where.rpartition(":")
    return name, int(line)


def missing(pot: Catalog, po: Catalog) -> list[str]:
    """The ids of ``pot`` without a Danish translation in ``po``."""
    found = []
    for message in pot:
        if not message.id:
            continue
        translated = po.get(message.id)
        strings = translated.string if translated is not None else None
        values = strings if isinstance(strings, tuple | list) else (strings,)
        if translated is None or translated.fuzzy or not all(values):
            found.append(message.id if isinstance(message.id, str) else message.id[0])
    return found


def load_po() -> Catalog:
    with PO.open("rb") as handle:
        return read_po(handle, locale="da", domain="fbh")


def main(argv: list[str]) -> int:
    pot = template()
    if "--check" in argv:
        gaps = missing(pot, load_po())
        for gap in gaps:
            sys.stdout.write(f"untranslated: {gap!r}\n")
        return 1 if gaps else 0
    with POT.open("wb") as handle:
        write_po(handle, pot, omit_header=False, sort_output=True, width=100)
    po = load_po() if PO.exists() else Catalog(locale="da", domain="fbh", project="fbh")
    po.update(pot, no_fuzzy_matching=True)
    buffer = io.BytesIO()
    write_po(buffer, po, sort_output=True, width=100, ignore_obsolete=True)
    PO.parent.mkdir(parents=True, exist_ok=True)
    PO.write_bytes(buffer.getvalue())
    with MO.open("wb") as handle:
        write_mo(handle, load_po())
    gaps = missing(pot, load_po())
    sys.stdout.write(f"{len(pot)} messages, {len(gaps)} untranslated\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
