"""notifications.render.Context and notifications.envelope.revive: the outbox renders stored
payloads as Contexts, which templates read exactly as they read plain dicts, only faster."""

from __future__ import annotations

import gc
import json
from datetime import UTC, date, datetime

import pytest
from jinja2 import StrictUndefined, UndefinedError

from engine.domain.gcpause import paused_gc
from notifications.envelope import revive
from notifications.render import Context, environment


def render(source: str, **context: object) -> str:
    return environment().from_string(source).render(context)


@pytest.mark.parametrize(
    "source",
    [
        "{{ p.title }} {{ p['title'] }}",
        "{% for k, v in p.items() %}{{ k }}={{ v }};{% endfor %}",  # a dict method wins
        "{{ p.nested.week }} {{ p.list[0].x }}",
        "{{ p.title | upper }} {{ p.get('missing', 'none') }}",
    ],
)
def test_a_context_renders_as_the_plain_dict(source: str) -> None:
    plain = {"title": "Fælleshuset <b>", "nested": {"week": 3}, "list": [{"x": 1}]}
    assert render(source, p=revive(plain)) == render(source, p=plain)


def test_a_key_named_like_a_dict_method_still_reads_as_the_method() -> None:
    plain = {"items": "a key"}
    source = "{{ p.items is callable }}"
    assert render(source, p=Context(plain)) == render(source, p=plain) == "True"


def test_a_missing_key_is_undefined_as_for_a_dict() -> None:
    assert environment().undefined is StrictUndefined
    with pytest.raises(UndefinedError):
        render("{{ p.missing }}", p=Context({"title": "x"}))
    with pytest.raises(AttributeError):
        Context({}).missing  # noqa: B018 - the attribute read is the test


def test_revive_turns_dicts_into_contexts_and_iso_strings_into_dates() -> None:
    stored = json.loads(
        json.dumps(
            {
                "meeting": {"start": "2027-03-08T09:00:00+01:00", "title": "Workshop"},
                "request": {"deadline": "2027-03-10", "received": "2027-02-24"},
                "rows": [{"window_start": "2027-03-01"}, "2027-03-01", 3],
                "start": 7,  # not a string: left alone
            }
        )
    )
    revived = revive(stored)
    assert isinstance(revived, Context) and isinstance(revived["meeting"], Context)
    assert revived["meeting"]["start"] == datetime.fromisoformat("2027-03-08T09:00:00+01:00")
    assert revived["meeting"]["start"].tzinfo is not None
    assert revived["request"]["deadline"] == date(2027, 3, 10)
    assert revived["rows"] == [{"window_start": date(2027, 3, 1)}, "2027-03-01", 3]
    assert revived["start"] == 7
    assert revived == {**stored, **revived}  # still equal to plain dicts


def test_paused_gc_resumes_collection_as_it_was() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_dates_stay_aware() -> None:
    revived = revive({"end": "2027-03-08T15:00:00+00:00"})
    assert revived["end"] == datetime(2027, 3, 8, 15, 0, tzinfo=UTC)
