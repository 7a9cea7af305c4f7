"""Helpers shared by test folders (importable because tests/ is on sys.path via conftest)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

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
