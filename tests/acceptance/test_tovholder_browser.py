"""The tovholder's page in a real browser: Debian's chromium driven by Playwright (never
``playwright install``), against ``fbh serve`` with ``[http]``. The link comes from the
summary mail in the Maildir, as the tovholder gets it.

Outside CI a missing chromium or Playwright skips these tests with the reason; under
``CI=true`` it fails them.
"""

from __future__ import annotations

import email
import email.policy
import http.client
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fbhcli import REPO, Cli
from served import Daemons, cli_env, daemons_fixture, wait_until, write_daemon_config
from smtpserver import free_port
from test_serve import next_monday

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = REPO / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
TOVHOLDER = "Søren Ærø <soren@boligost.dk>"


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    yield from daemons_fixture()


class Site:
    """``fbh serve`` with one programme (with TILPASSET) and its summary mail delivered."""

    def __init__(self, home: Path, daemons: Daemons) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        extra = f'[http]\nlisten = "127.0.0.1:{self.port}"\npublic_url = "{self.base}"\n'
        config = write_daemon_config(home, "sqlite:///var/fbh.sqlite3", extra=extra)
        self.cli = Cli(home, config, cli_env(LANG="en_US.UTF-8"))
        created = self.cli(
            "programme",
            "create",
            "--workflow",
            "socialt-beredskab",
            "--with",
            "tilpasset",
            "--org",
            "Boligselskabet Ærø",
            "--municipality",
            "Aabenraa",
            "--consultant",
            "Anna Holm <anna.holm@bl.dk>",
            "--tovholder",
            TOVHOLDER,
            "--start",
            next_monday().isoformat(),
            "--json",
        ).json()
        self.programme_id = int(created["id"])
        daemons.start(self.cli, "page").wait_ready()
        wait_until(lambda: self.summary_link() is not None, 20, "the summary mail")

    def summary_link(self) -> str | None:
        """The page link in the tovholder's summary mail (its text part), once delivered."""
        for path in sorted([*self.cli.maildir.glob("new/*"), *self.cli.maildir.glob("cur/*")]):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if str(message["X-Fbh-Kind"]) != "programme_summary":
                continue
            text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            found = re.search(r"https?://\S+/p/[A-Za-z0-9_-]{43}", text)
            return found.group(0) if found else None
        return None

    def status(self) -> dict[str, Any]:
        result = self.cli("time", "status", str(self.programme_id), "--json")
        return dict(json.loads(result.out))

    def post(self, path: str, body: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            connection.request("POST", path, body=body.encode(), headers=headers)
            return connection.getresponse().status
        finally:
            connection.close()


@pytest.fixture
def site(tmp_path: Path, daemons: Daemons) -> Site:
    return Site(tmp_path, daemons)


def used_width(page: Any, part: str) -> float:
    rect = page.locator(f"#budget-{part} rect[data-kind='used']")
    return float(rect.get_attribute("width")) if rect.count() else 0.0


def test_log_hours_from_the_summary_mails_link(browser: Any, site: Site) -> None:
    link = site.summary_link()
    assert link is not None
    page = browser.new_page(viewport={"width": 390, "height": 844})
    response = page.goto(link)
    assert response is not None and response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "Boligselskabet Ærø" in page.content()
    base = "socialt-beredskab"
    assert used_width(page, base) == 0.0
    assert page.locator(f"#budget-{base}").get_attribute("data-used-hours") == "0.0"

    page.get_by_label("Timer", exact=True).first.fill("2,5")
    page.locator("#ny-note").fill("Kortlægning med kommunen")
    page.get_by_role("button", name="Gem timer").click()
    page.wait_for_url(re.compile(r"besked=gemt"))
    assert page.get_by_role("status").inner_text() == "Timerne er gemt."
    assert page.locator(f"#budget-{base}").get_attribute("data-used-hours") == "2.5"
    assert used_width(page, base) > 0  # the bar moved
    assert "2,5 af 14,8–22,2 timer" in page.locator(f"#budget-{base}").inner_text()
    status = site.status()
    assert (status["used_hours"], status["status"]) == (2.5, "under")

    page.get_by_role("link", name=re.compile("^Ret")).first.click()
    page.locator("#ret-hours").fill("3")
    page.locator("#ret-part").select_option("tilpasset")
    page.get_by_role("button", name="Gem ændring").click()
    page.wait_for_url(re.compile(r"besked=rettet"))
    parts = {p["part"]: p["used_hours"] for p in site.status()["parts"]}
    assert parts == {"socialt-beredskab": 0.0, "tilpasset": 3.0}
    page.get_by_role("button", name=re.compile("^Slet")).first.click()
    page.wait_for_url(re.compile(r"besked=slettet"))
    assert site.status()["parts"][1]["used_hours"] == 0.0
    page.close()


def test_a_bad_form_shows_the_danish_error_beside_the_field(browser: Any, site: Site) -> None:
    link = site.summary_link()
    assert link is not None
    page = browser.new_page()
    page.goto(link)
    page.get_by_label("Timer", exact=True).first.fill("to en halv")
    page.get_by_role("button", name="Gem timer").click()
    field = page.locator("#ny-hours")
    assert field.get_attribute("aria-invalid") == "true"
    error = page.locator("#ny-hours-fejl")
    assert error.inner_text().endswith("skriv timerne som et tal, fx 2,5")
    assert "ny-hours-fejl" in (field.get_attribute("aria-describedby") or "")
    assert field.input_value() == "to en halv"  # what was typed stays
    page.get_by_label("Timer", exact=True).first.fill("30")
    page.get_by_role("button", name="Gem timer").click()
    assert "højst 24 timer om dagen" in page.locator("#ny-hours-fejl").inner_text()
    assert site.status()["used_hours"] == 0.0
    page.close()


def test_a_revoked_link_is_404_and_a_post_without_csrf_is_refused(browser: Any, site: Site) -> None:
    link = site.summary_link()
    assert link is not None
    path = urlsplit(link).path
    assert site.post(path, "date=2026-12-07&hours=1") == 403
    assert site.post(path, "date=2026-12-07&hours=1&csrf=" + "0" * 64) == 403
    assert site.status()["used_hours"] == 0.0
    revoked = site.cli("programme", "link", str(site.programme_id), "--revoke").out
    # the summary mail's token, and the weekly reminder's when the daemon caught up on it
    assert re.match(r"[12] page links? revoked for programme 1$", revoked.strip())
    page = browser.new_page()
    response = page.goto(link)
    assert response is not None and response.status == 404
    fresh = site.cli("programme", "link", str(site.programme_id)).out.strip()
    assert fresh.startswith(site.base + "/p/") and fresh != link
    response = page.goto(fresh)
    assert response is not None and response.status == 200
    page.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(content=AXE.read_text("utf-8"))
    results = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"
    )
    return [v for v in results["violations"] if v["impact"] in ("serious", "critical")]


def test_axe_finds_no_serious_violations(browser: Any, site: Site) -> None:
    if not AXE.exists():
        unavailable(f"{AXE} is missing (npm ci --prefix tests/js)")
    link = site.summary_link()
    assert link is not None
    for width in (390, 1280):
        # The page's CSP forbids inline scripts: axe is injected past it, as a tool does.
        context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
        page = context.new_page()
        page.goto(link)
        assert axe_violations(page) == [], f"at {width} px"
        page.get_by_label("Timer", exact=True).first.fill(
            "x"
        )  # the page with an error beside a field
        page.get_by_role("button", name="Gem timer").click()
        assert page.locator("#ny-hours-fejl").count() == 1
        assert axe_violations(page) == [], f"with an error, at {width} px"
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"the page scrolls sideways at {width} px"
        context.close()


def test_upload_a_participant_csv_with_danish_letters_and_see_the_headcount(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    link = site.summary_link()
    assert link is not None
    listing = tmp_path / "deltagere.csv"
    listing.write_bytes(
        (
            "\ufeffnavn;email;organisation;type;rolle\r\n"
            "Åse Ørnskov;aase@aabenraa.dk;Aabenraa Kommune;Kommune;medarbejder\r\n"
            "Bjørn Læsø;bjorn@politi.dk;Syd- og Sønderjyllands Politi;Politi;leder\r\n"
            "Søs Ærø;soes@boligost.dk;Boligselskabet Ærø;Boligorganisationen;medarbejder\r\n"
        ).encode("utf-8")
    )
    page = browser.new_page()
    page.goto(link)
    page.get_by_label("CSV-fil (højst 100 kB)").set_input_files(str(listing))
    page.get_by_role("button", name="Indlæs listen").click()
    page.wait_for_url(re.compile(r"besked=indlaest"))
    people = page.locator("table.people").inner_text()
    for text in ("Åse Ørnskov", "Bjørn Læsø", "Søs Ærø", "Syd- og Sønderjyllands Politi"):
        assert text in people
    headcount = page.locator("li.headcount").first.inner_text()
    assert "2 til frokost" in headcount and "3 har ikke svaret" in headcount
    listed = site.cli("participant", "list", str(site.programme_id), "--json").json()
    assert {p["name"] for p in listed} == {"Åse Ørnskov", "Bjørn Læsø", "Søs Ærø"}
    page.close()
