"""Every mail kind and timeline event has words for the human output (engine.domain.labels)."""

from __future__ import annotations

import re
from pathlib import Path

from engine.domain import i18n
from engine.domain.labels import EVENT_LABELS, MAIL_KIND_LABELS, event_label, mail_kind_label
from engine.domain.model import MAIL_KINDS


def test_every_mail_kind_and_timeline_event_has_a_label() -> None:
    assert set(MAIL_KINDS) <= set(MAIL_KIND_LABELS)
    timeline = Path(i18n.__file__).with_name("timeline.py").read_text("utf-8")
    events = set(re.findall(r'Step\("(\w+)"', timeline))
    assert events and events <= set(EVENT_LABELS)


def test_labels_in_danish_and_english() -> None:
    try:
        i18n.use_language("da")
        assert mail_kind_label("task_due") == "opgavepåmindelse"
        assert event_label("expire", 3, "kortlaegning") == "forløb 3: kortlaegning bliver forsinket"
        assert event_label("start", 3, None) == "forløb 3 starter"
        i18n.use_language("en")
        assert mail_kind_label("task_due") == "task reminder"
        assert event_label("schedule", 3, "afsaet") == "programme 3: afsaet becomes current"
        assert (
            mail_kind_label("no_such_kind") == "no_such_kind" and event_label("x", 1, None) is None
        )
    finally:
        i18n.use_language("en")
