"""Helpers shared by test folders (importable because tests/ is on sys.path via conftest)."""

from __future__ import annotations

import shutil
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from secrets import token_hex

from engine.config.settings import DatabaseSection, EngineSection, MailSection, Settings

REPO = Path(__file__).resolve().parent.parent


def make_settings(tmp_path: Path, database_url: str, **mail: object) -> Settings:
    return Settings(
        base_dir=tmp_path,
        engine=EngineSection(workflows=str(REPO / "workflows")),
        database=DatabaseSection(url=database_url),
        mail=MailSection(
            maildir=str(tmp_path / "mail"),
            sender="Fra bolig til hjem <fraboligtilhjem@bl.dk>",
            lead="Programleder <lead@bl.dk>",
            **mail,  # type: ignore[arg-type]
        ),
    )


def copy_of_template(template: Path, target: Path) -> None:
    """A migrated database at ``target``: a copy of ``template`` with its own installation id
    (migration 0004 draws one per database), as if ``target`` had been migrated itself."""
    shutil.copyfile(template, target)
    connection = sqlite3.connect(target)
    try:
        with connection:
            connection.execute("UPDATE installation SET installation_id = ?", (token_hex(8),))
    finally:
        connection.close()


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(html: str) -> str:
    """The text a reader sees in an HTML mail, whitespace folded."""
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())
