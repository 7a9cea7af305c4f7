"""Stored rendered bytes: the ``Date`` set at send, and the fingerprint that says whether
bytes rendered earlier are still what fbh would render now (notifications/rendered.py)."""

from __future__ import annotations

import email
import email.policy
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fbhtest import make_settings

from engine.domain.model import Contact
from notifications import rendered
from notifications.mime import MailSpec, message_id_for
from notifications.rendered import fingerprint, with_date
from notifications.wire import message_bytes

RENDERED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SENT_AT = datetime(2027, 1, 4, 7, 5, 9, tzinfo=UTC)


def spec(date: datetime, subject: str = "Påmindelse: Date: i morgen") -> MailSpec:
    return MailSpec(
        sender=Contact("Fra bolig til hjem", "fbh@bl.dk"),
        to=(Contact("Søren Ærø", "soren@example.dk"),),
        subject=subject,
        text="Date: står også i teksten\n",
        html="<p>Date: også her</p>",
        message_id=message_id_for("reminder:1", "bl.dk"),
        date=date,
        headers=(("X-Fbh-Kind", "reminder"),),
    )


@pytest.mark.parametrize("subject", ["Påmindelse: Date: i morgen", "x " * 60 + "Date: y"])
def test_with_date_gives_the_message_rendered_at_send(subject: str) -> None:
    stored = message_bytes(spec(RENDERED_AT, subject))
    sent = with_date(stored, SENT_AT)
    assert sent == message_bytes(spec(SENT_AT, subject))
    parsed = email.message_from_bytes(sent, policy=email.policy.default)
    assert parsed["Date"].datetime == SENT_AT
    assert parsed["Subject"] == subject.strip()


def test_bytes_without_a_date_are_refused() -> None:
    with pytest.raises(ValueError, match="no Date header"):
        with_date(b"Subject: x\r\n\r\nDate: in the body\r\n", SENT_AT)


def test_the_fingerprint_follows_the_sender(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite:///unused.sqlite3")
    mark = fingerprint(settings)
    assert len(mark) == 64 and mark == fingerprint(settings)
    mail = settings.mail.model_copy(update={"sender": "Andet navn <fbh@bl.dk>"})
    assert fingerprint(settings.model_copy(update={"mail": mail})) != mark


def test_the_fingerprint_follows_the_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = Path(rendered.__file__).parent
    copy = tmp_path / "notifications"
    shutil.copytree(here / "templates", copy / "templates")
    for path in rendered._code_files():
        target = copy.parent / path.relative_to(here.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    monkeypatch.setattr(rendered, "_HERE", copy)
    settings = make_settings(tmp_path, "sqlite:///unused.sqlite3")
    rendered._code_hash.cache_clear()
    try:
        before = fingerprint(settings)
        template = copy / "templates" / "reminder.txt"
        template.write_text(template.read_text("utf-8") + "\nNy linje\n", "utf-8")
        rendered._code_hash.cache_clear()
        assert fingerprint(settings) != before
        for module in (copy / "jinja.py", tmp_path.joinpath(*rendered._PACKED)):
            changed = fingerprint(settings)
            module.write_text(module.read_text("utf-8") + "\n# changed\n", "utf-8")
            rendered._code_hash.cache_clear()
            assert fingerprint(settings) != changed, module
    finally:
        rendered._code_hash.cache_clear()
