"""The tovholder's private page over HTTP (aiohttp's test server, the page's real routes) on
SQLite and PostgreSQL: tokens stored hashed and revocable, CSRF, 404, 429, the security
headers, the hours form's changes in the audit log, escaping, the meetings' ICS, the summary
mail's link and the weekly reminder."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from icalendar import Calendar
from sqlmodel import select

from engine.config.http import HttpSection
from engine.config.settings import Settings
from engine.daemon.page import CSP, PageEndpoints
from engine.domain.definitions import load_registry
from engine.domain.errors import NotFoundError
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.services.pages import issue_link, page_path, revoke_links, revoke_page_tokens
from engine.services.timelog import time_status
from engine.services.tovholder_mail import queue_tovholder_reminders
from engine.store.store import Store
from engine.store.tables import PageToken

NOW = datetime(2027, 1, 20, 10, 0, tzinfo=UTC)  # a Wednesday, programme week 2
PUBLIC = "https://fbh.example.dk"
SOREN = Contact("Søren Ærø", "soren@boligost.dk")


@pytest.fixture
def page_fbh(settings: Settings, store: Store) -> Fbh:
    http = HttpSection(public_url=PUBLIC, page_requests_per_minute=40)
    configured = settings.model_copy(update={"http": http})
    return Fbh(configured, store, load_registry(configured.workflows_dir), actor="test")


@pytest.fixture
def programme_id(page_fbh: Fbh) -> int:
    view = page_fbh.create_programme(
        NewProgramme(
            workflow="socialt-beredskab",
            organisation="Boligselskabet Øst",
            municipality="Aabenraa",
            consultant=Contact("Anna Holm", "anna.holm@bl.dk"),
            tovholder=SOREN,
            start=date(2027, 1, 4),
            extensions=("tilpasset",),
        ),
        NOW - timedelta(days=20),
    )
    return view.id


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def client(page_fbh: Fbh) -> AsyncIterator[tuple[TestClient[Any, Any], Clock]]:
    clock = Clock()
    app = web.Application()
    PageEndpoints(page_fbh, clock).routes(app)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, clock


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF input"
    return found.group(1)


async def open_page(client: TestClient[Any, Any], path: str) -> tuple[str, str]:
    response = await client.get(path)
    assert response.status == 200
    html = await response.text()
    return html, csrf_of(html)


async def test_a_token_is_stored_hashed_and_opens_only_its_page(
    client: tuple[TestClient[Any, Any], Clock], page_fbh: Fbh, programme_id: int
) -> None:
    test_client, _ = client
    token = issue_link(page_fbh, programme_id, NOW)
    assert len(token) == 43  # 256 bits
    with page_fbh.store.transaction() as tx:
        rows = list(tx.session.exec(select(PageToken)))
    assert {r.source for r in rows} == {"summary", "cli"}
    assert hashlib.sha256(token.encode()).hexdigest() in {r.token_hash for r in rows}
    assert all(token not in r.token_hash for r in rows)

    response = await test_client.get(page_path(token))
    assert response.status == 200
    html = await response.text()
    assert "Boligselskabet Øst" in html and "Dine timer" in html
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script" not in html and "style=" not in html
    assert not re.search(r'(src|href)="https?://', html), "no third-party asset"
    for name in ("date", "hours", "note", "part", "csrf"):
        assert f'name="{name}"' in html

    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 43, "short"):
        assert (await test_client.get(f"/p/{wrong}")).status == 404
    css = await test_client.get("/static/page.css")
    assert css.status == 200 and css.content_type == "text/css"


async def test_logging_editing_and_deleting_hours_is_audited_as_the_tovholder(
    client: tuple[TestClient[Any, Any], Clock], page_fbh: Fbh, programme_id: int
) -> None:
    test_client, _ = client
    path = page_path(issue_link(page_fbh, programme_id, NOW))
    _, csrf = await open_page(test_client, path)
    form = {"date": "2027-01-19", "hours": "2,5", "note": "Møde <b>med</b> kommunen", "csrf": csrf}
    response = await test_client.post(path, data=form, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"{path}?besked=gemt#timer"
    status = time_status(page_fbh, programme_id, NOW)
    assert status.to_json()["used_hours"] == 2.5
    html, csrf = await open_page(test_client, f"{path}?besked=gemt")
    assert "Timerne er gemt." in html
    assert "Møde &lt;b&gt;med&lt;/b&gt; kommunen" in html
    assert 'data-used-hours="2.5"' in html

    with page_fbh.store.transaction() as tx:
        entry = tx.time.find(programme_id)[0]
    edit = {"date": "2027-01-18", "hours": "3", "note": "", "part": "tilpasset", "csrf": csrf}
    response = await test_client.post(f"{path}/timer/{entry.id}", data=edit, allow_redirects=False)
    assert response.status == 303
    status = time_status(page_fbh, programme_id, NOW)
    assert status.part("tilpasset").used_hours == 3 and status.base.used_hours == 0
    response = await test_client.post(
        f"{path}/timer/{entry.id}/slet", data={"csrf": csrf}, allow_redirects=False
    )
    assert response.status == 303
    assert time_status(page_fbh, programme_id, NOW).part("tilpasset").used_hours == 0

    with page_fbh.store.transaction() as tx:
        events = [e for e in tx.events.find(programme_id=programme_id) if e.entity == "time"]
    assert [(e.event, e.actor) for e in events] == [
        ("log", "tovholder:soren@boligost.dk"),
        ("edit", "tovholder:soren@boligost.dk"),
        ("delete", "tovholder:soren@boligost.dk"),
    ]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"hours": "abc"}, "hours", "skriv timerne som et tal, fx 2,5"),
        ({"hours": ""}, "hours", "skriv antal timer"),
        ({"hours": "25"}, "hours", "højst 24 timer om dagen"),
        ({"hours": "0"}, "hours", "skal være mere end 0"),
        ({"date": "2027-01-21"}, "date", "ligger i fremtiden"),
        ({"date": "2026-01-01"}, "date", "uden for forløb"),
        ({"date": "i går"}, "date", "skriv en dato som fx 2027-03-08"),
        ({"note": "x" * 501}, "note", "noten er længere end 500 tegn"),
        ({"note": "a\x00b"}, "note", "tegn, der ikke er tilladt"),
        ({"part": "basis"}, "part", "ukendt del"),
    ],
)
async def test_a_bad_form_shows_the_danish_error_beside_its_field(
    client: tuple[TestClient[Any, Any], Clock],
    page_fbh: Fbh,
    programme_id: int,
    form: dict[str, str],
    field: str,
    message: str,
) -> None:
    test_client, _ = client
    path = page_path(issue_link(page_fbh, programme_id, NOW))
    _, csrf = await open_page(test_client, path)
    data = {"date": "2027-01-19", "hours": "1", "note": "", "csrf": csrf} | form
    response = await test_client.post(path, data=data, allow_redirects=False)
    assert response.status == 400
    html = await response.text()
    error = re.search(rf'<p class="field-error" id="ny-{field}-fejl">(.*?)</p>', html, re.S)
    assert error is not None, f"no error beside {field}"
    assert message in error.group(1)
    assert re.search(rf'id="ny-{field}"[^>]*aria-invalid="true"', html)
    assert time_status(page_fbh, programme_id, NOW).to_json()["used_hours"] == 0


async def test_posts_without_or_with_a_wrong_csrf_token_are_refused(
    client: tuple[TestClient[Any, Any], Clock], page_fbh: Fbh, programme_id: int
) -> None:
    test_client, _ = client
    path = page_path(issue_link(page_fbh, programme_id, NOW))
    other = page_path(issue_link(page_fbh, programme_id, NOW))
    _, csrf_other = await open_page(test_client, other)
    form = {"date": "2027-01-19", "hours": "1"}
    for extra in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": csrf_other}):
        response = await test_client.post(path, data=form | extra, allow_redirects=False)
        assert response.status == 403, extra
    assert time_status(page_fbh, programme_id, NOW).to_json()["used_hours"] == 0


async def test_revoked_and_handed_over_links_are_404(
    client: tuple[TestClient[Any, Any], Clock], page_fbh: Fbh, programme_id: int
) -> None:
    test_client, _ = client
    first = page_path(issue_link(page_fbh, programme_id, NOW))
    assert (await test_client.get(first)).status == 200
    assert revoke_links(page_fbh, programme_id, NOW) == 2  # the summary mail's and this one
    assert (await test_client.get(first)).status == 404
    second = page_path(issue_link(page_fbh, programme_id, NOW))
    assert (await test_client.get(second)).status == 200
    with page_fbh.store.transaction() as tx:  # what the handover of the role calls
        assert revoke_page_tokens(tx, programme_id, NOW, actor="cli") == 1
    assert (await test_client.get(second)).status == 404
    with pytest.raises(NotFoundError):
        issue_link(page_fbh, 999, NOW)


async def test_requests_are_rate_limited_per_token(
    client: tuple[TestClient[Any, Any], Clock], page_fbh: Fbh, programme_id: int
) -> None:
    test_client, clock = client
    path = page_path(issue_link(page_fbh, programme_id, NOW))
    other = page_path(issue_link(page_fbh, programme_id, NOW))
    for _ in range(40):
        assert (await test_client.get(path)).status == 200
    limited = await test_client.get(path)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
    assert (await test_client.get(other)).status == 200  # per token
    clock.now = NOW + timedelta(seconds=61)
    assert (await test_client.get(path)).status == 200


async def test_each_meeting_has_its_ics(
    client: tuple[TestClient[Any, Any], Clock], page_fbh: Fbh, programme_id: int
) -> None:
    test_client, _ = client
    path = page_path(issue_link(page_fbh, programme_id, NOW))
    html, _ = await open_page(test_client, path)
    links = re.findall(rf'href="({re.escape(path)}/moeder/\d+\.ics)"', html)
    assert links, "no meeting to download"
    response = await test_client.get(links[-1])
    assert response.status == 200 and response.content_type == "text/calendar"
    assert "attachment" in response.headers["Content-Disposition"]
    calendar = Calendar.from_ical(await response.read())
    events = [c for c in calendar.walk("VEVENT")]
    assert len(events) == 1 and str(events[0]["UID"]).endswith("@bl.dk")
    assert (await test_client.get(f"{path}/moeder/999999.ics")).status == 404


async def test_the_summary_mail_and_the_weekly_reminder_carry_a_working_link(
    client: tuple[TestClient[Any, Any], Clock], page_fbh: Fbh, programme_id: int
) -> None:
    test_client, _ = client

    def link(kind: str) -> str:
        with page_fbh.store.transaction() as tx:
            rows = [r for r in tx.outbox.find() if r.kind == kind]
        assert len(rows) == 1, kind
        url = str(rows[0].payload["context"]["page_url"])
        assert url.startswith(f"{PUBLIC}/p/")
        return url.removeprefix(PUBLIC)

    assert (await test_client.get(link("programme_summary"))).status == 200
    assert queue_tovholder_reminders(page_fbh, NOW) == 1
    assert queue_tovholder_reminders(page_fbh, NOW + timedelta(hours=1)) == 0  # once a week
    assert (await test_client.get(link("tovholder_weekly"))).status == 200


def test_no_public_url_no_link_in_mails(fbh: Fbh) -> None:
    view = fbh.create_programme(
        NewProgramme(
            workflow="socialt-beredskab",
            organisation="Vestbo",
            municipality="Aabenraa",
            consultant=Contact("Anna Holm", "anna.holm@bl.dk"),
            tovholder=SOREN,
            start=date(2027, 1, 4),
        ),
        NOW,
    )
    with fbh.store.transaction() as tx:
        summary = next(r for r in tx.outbox.find() if r.kind == "programme_summary")
        tokens = list(tx.session.exec(select(PageToken)))
    assert summary.payload["context"]["page_url"] == "" and tokens == []
    assert queue_tovholder_reminders(fbh, NOW) == 0
    assert view.id


def test_a_summary_refreshed_by_a_move_keeps_its_link(page_fbh: Fbh, programme_id: int) -> None:
    def summary_context() -> dict[str, Any]:
        with page_fbh.store.transaction() as tx:
            row = next(r for r in tx.outbox.find() if r.kind == "programme_summary")
        return dict(row.payload["context"])

    before = summary_context()
    page_fbh.reschedule(programme_id, "workshop", date(2027, 3, 10), NOW)
    after = summary_context()
    assert after["milestones"] != before["milestones"]  # the refresh happened
    assert after["page_url"] == before["page_url"] != ""


CSV = (
    "\ufeffnavn;email;organisation;type;rolle\r\n"
    "Åse Ørnskov;aase@aabenraa.dk;Aabenraa Kommune;Kommune;medarbejder\r\n"
    "Bjørn Læsø;bjorn@politi.dk;Syd- og Sønderjyllands Politi;Politi;leder\r\n"
).encode("utf-8")


def upload(csrf: str, data: bytes) -> Any:
    from aiohttp import FormData

    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field("fil", data, filename="deltagere.csv", content_type="text/csv")
    return form


async def test_participants_add_upload_download_and_headcount(
    client: tuple[TestClient[Any, Any], Clock], page_fbh: Fbh, programme_id: int
) -> None:
    test_client, _ = client
    path = page_path(issue_link(page_fbh, programme_id, NOW))
    html, csrf = await open_page(test_client, path)
    assert "Deltagere" in html and "Der er ingen deltagere på listen endnu." in html

    person = {"name": "Karen Æbelø", "email": "karen@boligost.dk", "org": "Boligselskabet Øst"}
    data = person | {"kind": "internal", "role": "employee", "csrf": csrf}
    response = await test_client.post(f"{path}/deltagere", data=data, allow_redirects=False)
    assert response.status == 303
    again = await test_client.post(f"{path}/deltagere", data=data, allow_redirects=False)
    assert again.status == 400
    assert "personen er allerede på listen" in await again.text()
    bad = data | {"email": "ikke en adresse", "name": ""}
    refused = await test_client.post(f"{path}/deltagere", data=bad, allow_redirects=False)
    text = await refused.text()
    assert refused.status == 400
    assert re.search(r'id="deltager-email-fejl">.*skriv en e-mailadresse', text, re.S)
    assert re.search(r'id="deltager-name-fejl">.*udfyld feltet', text, re.S)

    response = await test_client.post(
        f"{path}/deltagere/csv", data=upload(csrf, CSV), allow_redirects=False
    )
    assert response.status == 303
    html, _ = await open_page(test_client, path)
    for name in ("Karen Æbelø", "Åse Ørnskov", "Bjørn Læsø", "Syd- og Sønderjyllands Politi"):
        assert name in html
    lunch = re.search(r'<span class="lunch">(\d+) til frokost</span>', html)
    assert lunch is not None and int(lunch.group(1)) == 2  # nobody has answered: the staff
    assert "3 har ikke svaret" in html
    assert page_fbh.participants.headcounts(programme_id)[0].counts.unanswered == 3

    download = await test_client.get(f"{path}/deltagere.csv")
    assert download.status == 200 and download.content_type == "text/csv"
    body = await download.read()
    assert body.startswith(b"\xef\xbb\xbfnavn;email;organisation;type;rolle")
    assert "Åse Ørnskov;aase@aabenraa.dk" in body.decode("utf-8-sig")

    with page_fbh.store.transaction() as tx:
        events = [e for e in tx.events.find(programme_id=programme_id)]
    added = [e for e in events if e.event == "participant_added"]
    assert len(added) == 3 and {e.actor for e in added} == {"tovholder:soren@boligost.dk"}


async def test_a_csv_over_the_limit_or_with_bad_rows_imports_nothing(
    client: tuple[TestClient[Any, Any], Clock], page_fbh: Fbh, programme_id: int
) -> None:
    test_client, _ = client
    path = page_path(issue_link(page_fbh, programme_id, NOW))
    _, csrf = await open_page(test_client, path)
    big = CSV + b"x" * 100_001
    response = await test_client.post(f"{path}/deltagere/csv", data=upload(csrf, big))
    assert response.status == 400
    assert "filen er større end 100 kB" in await response.text()
    broken = CSV + b"Ny Person;ikke-en-adresse;Org;Kommune;medarbejder\r\n"
    response = await test_client.post(f"{path}/deltagere/csv", data=upload(csrf, broken))
    assert response.status == 400
    assert re.search(r'id="deltager-file-fejl">', await response.text())
    no_csrf = await test_client.post(f"{path}/deltagere/csv", data=upload("0" * 64, CSV))
    assert no_csrf.status == 403
    assert page_fbh.participants.list_participants(programme_id) == []
