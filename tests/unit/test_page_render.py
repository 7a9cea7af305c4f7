"""The tovholder's page without a server: its template (escaping, labels, no inline style or
script), the form's parsers and Danish errors, the rate limit, the weekly reminder mail and
the ``[http] public_url`` key."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fbhtest import visible_text
from pydantic import ValidationError
from test_digest import CPH, TODAY, programme

from engine.config.http import HttpSection
from engine.daemon.page import RateLimit, _form_context
from engine.domain.errors import FieldError
from engine.services.tovholder_page import HoursForm, check_note, parse_day, parse_hours
from engine.services.tovholder_participants import PersonForm
from notifications.digests import programme_context
from notifications.page import render_page, stylesheet
from notifications.render import render_mail

HOSTILE = '<script>alert("x")</script> & "Ærø"'


def page_context(**changes: Any) -> dict[str, Any]:
    form = HoursForm(hours="abc", errors={"hours": "skriv timerne som et tal, fx 2,5"})
    context = {
        "programme": programme_context(programme(organisation=HOSTILE), TODAY, CPH),
        "state": "running",
        "today": TODAY.isoformat(),
        "parts": [{"key": "socialt-beredskab", "title": "Socialt beredskab"}],
        "entries": [
            {
                "id": 3,
                "date": "2027-01-25",
                "date_text": "25. januar 2027",
                "hours": "2,5",
                "note": HOSTILE,
                "part": "socialt-beredskab",
                "part_title": "Socialt beredskab",
            }
        ],
        "meetings": [
            {
                "id": 9,
                "title": HOSTILE,
                "when": "mandag den 8. marts 2027 kl. 09.00–15.00",
                "state_label": "planlagt",
                "past": False,
                "ics": True,
            }
        ],
        "base": "/p/" + "a" * 43,
        "action": "/p/" + "a" * 43,
        "csrf": "0" * 64,
        "form": _form_context(form),
        "editing": None,
        "edit_form": _form_context(HoursForm()),
        "message": "",
        "participants": None,
        "person": PersonForm().context(),
    }
    return context | changes


def test_the_page_escapes_every_text_and_has_no_inline_style_or_script() -> None:
    html = render_page(page_context())
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert not re.search(r"\sstyle=|<style|\son[a-z]+=|javascript:", html, re.I)
    assert not re.search(r'(src|href)="(https?:)?//', html), "a third-party asset"
    assert '<html lang="da">' in html and 'name="viewport"' in html
    text = visible_text(html)
    assert HOSTILE in text


def test_every_input_has_a_label_and_the_error_sits_beside_its_field() -> None:
    html = render_page(page_context())
    ids = re.findall(r'<(?:input|select|textarea) id="([^"]+)"', html)
    assert {"ny-date", "ny-hours", "ny-note"} <= set(ids)
    for ident in ids:
        assert f'<label for="{ident}">' in html, ident
    hours = re.search(r'<input id="ny-hours"[^>]*>', html)
    assert hours is not None
    assert 'aria-invalid="true"' in hours.group(0) and "ny-hours-fejl" in hours.group(0)
    error = html.index('id="ny-hours-fejl"')
    assert html.index('id="ny-hours"') < error < html.index('id="ny-note"')
    assert "Timerne er ikke gemt" in html
    assert "Timerne er ikke gemt" not in render_page(page_context(form=_form_context(HoursForm())))


def test_the_page_shows_the_part_choice_only_with_tilpasset() -> None:
    one = render_page(page_context())
    assert 'name="part"' not in one
    parts = [
        {"key": "socialt-beredskab", "title": "Socialt beredskab"},
        {"key": "tilpasset", "title": "Kompetenceudvikling – TILPASSET"},
    ]
    two = render_page(page_context(parts=parts))
    assert re.search(r'<select id="ny-part" name="part"', two)
    assert '<option value="tilpasset">Kompetenceudvikling – TILPASSET</option>' in two


def test_the_stylesheet_has_no_imports_or_remote_urls() -> None:
    css = stylesheet().decode()
    assert "@import" not in css and "url(" not in css and "@media" in css


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-03-08", date(2027, 3, 8)),
        ("8.3.2027", date(2027, 3, 8)),
        ("08-03-2027", date(2027, 3, 8)),
    ],
)
def test_dates_are_iso_or_danish(text: str, expected: date) -> None:
    assert parse_day(text) == expected


@pytest.mark.parametrize("text", ["", "i går", "2027-02-30", "31.2.2027", "2027-03-08" * 3])
def test_a_bad_date_is_a_danish_error_on_the_date_field(text: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_day(text)
    assert caught.value.field == "date"
    assert caught.value.in_language("da").startswith("skriv")


@pytest.mark.parametrize(
    ("text", "hours"), [("2,5", 2.5), ("2.5", 2.5), (" 3 ", 3.0), ("0,25", 0.25)]
)
def test_hours_take_a_decimal_comma(text: str, hours: float) -> None:
    assert parse_hours(text) == hours


@pytest.mark.parametrize("text", ["", "abc", "2,5,1", "1e3", "nan", "inf", "-1", "123", "2,555"])
def test_bad_hours_are_refused_on_the_hours_field(text: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_hours(text)
    assert caught.value.field == "hours"


def test_notes_are_bounded_and_free_of_control_characters() -> None:
    assert check_note("  Møde\r\nmed kommunen ") == "Møde\nmed kommunen"
    with pytest.raises(FieldError, match="500"):
        check_note("x" * 501)
    with pytest.raises(FieldError):
        check_note("a\x1bb")


def test_a_field_error_is_english_on_the_cli_and_danish_on_the_page() -> None:
    error = FieldError("hours", "invalid hours {hours:g}: at most 24 hours a day", hours=30.0)
    assert error.in_language("en") == "invalid hours 30: at most 24 hours a day"
    assert error.in_language("da") == "ugyldigt antal timer 30: højst 24 timer om dagen"


def test_the_rate_limit_is_a_window_per_key() -> None:
    now = [datetime(2027, 1, 1, tzinfo=UTC)]
    limit = RateLimit(3, lambda: now[0])
    assert [limit.allow("a") for _ in range(3)] == [None, None, None]
    wait = limit.allow("a")
    assert wait is not None and 0 < wait <= 60
    assert limit.allow("b") is None
    now[0] += timedelta(seconds=60)
    assert limit.allow("a") is None


def test_public_url_must_be_an_http_url() -> None:
    assert HttpSection(public_url="https://fbh.bl.dk/").public_url == "https://fbh.bl.dk"
    for bad in ("fbh.bl.dk", "ftp://fbh.bl.dk", "https://fbh.bl.dk/?a=1", "https://x/\r\nX: y"):
        with pytest.raises(ValidationError):
            HttpSection(public_url=bad)


def test_the_weekly_reminder_is_danish_with_the_link() -> None:
    url = "https://fbh.example.dk/p/" + "b" * 43
    context = {
        "recipient": {"name": "Søren Ærø", "email": "soren@oestervang.dk"},
        "programme": programme_context(programme(organisation=HOSTILE), TODAY, CPH),
        "page_url": url,
        "iso_week": 4,
    }
    mail = render_mail("tovholder_weekly", context)
    assert mail.subject.startswith("Uge 4: dit forløb og dine timer")
    assert mail.text.startswith("Kære Søren Ærø\n") and url in mail.text
    assert "Husk at registrere dine timer" in mail.text
    assert "23,5 af 14,8–22,2 timer" in mail.text
    assert f'href="{url}"' in mail.html
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html


def test_the_participants_section_escapes_and_labels_its_fields() -> None:
    participants = {
        "kinds": [{"key": "municipality", "label": "Kommune"}],
        "people": [
            {
                "name": HOSTILE,
                "email": "aase@aabenraa.dk",
                "org": HOSTILE,
                "kind": "Kommune",
                "role": "leder",
                "answers": [{"title": "Workshop", "answer": "accepteret"}],
            }
        ],
        "headcounts": [
            {
                "title": "Workshop",
                "when": "",
                "accepted": 1,
                "tentative": 0,
                "unanswered": 0,
                "declined": 0,
                "lunch": 3,
            }
        ],
    }
    person = PersonForm(errors={"email": "skriv en e-mailadresse"}).context()
    html = render_page(page_context(participants=participants, person=person))
    assert "<script>" not in html and "3 til frokost" in html
    assert 'enctype="multipart/form-data"' in html and 'name="fil"' in html
    for ident in (
        "deltager-name",
        "deltager-email",
        "deltager-org",
        "deltager-kind",
        "deltager-role",
        "deltager-file",
    ):
        assert f'<label for="{ident}">' in html, ident
    assert re.search(r'id="deltager-email"[^>]*aria-invalid="true"', html)
