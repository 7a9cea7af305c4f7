"""The weekly digests fit in an inbox (issue 15): a consultant's mail with 20 programmes is at
most 100 KB (Gmail clips a message over 102 KB), and the lead's mail for 500 consultants ×
20 programmes at most 1 MB, what needs attention first and the full overview attached as CSV.

The data is the digest benchmark's (bench/digests.py): one consultant's 20 programmes made
through fbh's API and advanced to the digest time; for the lead, that world's digest cloned
for 500 consultants (10,000 programmes), as the benchmark clones its rows. The mails are the
bytes the outbox sends (``render_envelope``), read back with the stdlib email package.
SQLite only: this is about the mail, not the store."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest
from fbhtest import visible_text

from bench import digests as bench_digests
from engine.domain.definitions import load_registry
from engine.domain.digest import BudgetAlertItem, ConsultantLoad, LeadDigest, RequestItem
from engine.domain.model import Contact
from engine.services.digests import lead_digest, queue_digests
from engine.services.facade import Fbh
from engine.store.store import Store
from notifications.digest_overview import PROGRAMME_COLUMNS
from notifications.digests import LEAD_KIND, LEAD_LIST_LIMIT, digest_draft, lead_context
from notifications.envelope import render_envelope

KB = 1024
NOW = bench_digests.NOW
CONSULTANTS = 500


@pytest.fixture(scope="module")
def fbh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fbh]:
    home = Path(tmp_path_factory.mktemp("digest-size"))
    settings = bench_digests.bench_settings(home, home / "fbh.sqlite3")
    store = Store.open(settings.database_url)
    try:
        world = Fbh(settings, store, load_registry(settings.workflows_dir), actor="test")
        bench_digests.seed_template(world, 20)
        yield world
    finally:
        store.dispose()


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage) and not message.defects
    return message


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None and message.get_body(("plain",)) is not None
    html = body.get_content()
    assert isinstance(html, str)
    return html


def test_a_consultants_digest_with_20_programmes_is_at_most_100_kb(fbh: Fbh) -> None:
    queued = queue_digests(fbh, NOW, consultants=["konsulent0@bl.dk"], lead=False)
    assert queued.queued == ("konsulent0@bl.dk",)
    with fbh.store.transaction() as tx:
        [row] = [r for r in tx.outbox.find() if r.kind == "digest_consultant"]
        data = render_envelope(row, fbh.settings, NOW).data

    assert len(data) <= 100 * KB
    html = html_of(parse(data))
    text = visible_text(html)
    assert text.count("Tovholderens tidsforbrug") == 18  # every live programme, in full
    assert html.count('<table class="tl"') == 18  # with its timeline
    assert "Uge 14 af 18" in text and "ISO-uge 10" in text


def lead_of_500(fbh: Fbh) -> LeadDigest:
    """The lead's digest of 500 consultants, each with the template consultant's world."""
    one = lead_digest(fbh, NOW)
    programmes, load, breaches, soon, alerts = [], [], [], [], []
    for k in range(CONSULTANTS):

        def cloned(p, k=k):  # type: ignore[no-untyped-def]
            name, address = p.consultant.email.split("@")
            return replace(
                p,
                id=p.id + k * 1000,
                organisation=f"{p.organisation} #{k}",
                consultant=Contact(f"{p.consultant.name} #{k}", f"{name}+{k}@{address}"),
            )

        programmes += [cloned(p) for p in one.programmes]
        load += [
            ConsultantLoad(Contact(f"{r.consultant.name} #{k}", f"k{k}@bl.dk"), r.meetings)
            for r in one.load
        ]

        def request(r: RequestItem, k: int = k) -> RequestItem:
            return replace(r, id=r.id + k * 1000, organisation=f"{r.organisation} #{k}")

        breaches += [request(r) for r in one.breaches if r.assigned or k == 0]
        soon += [request(r) for r in one.soon]
        alerts += [
            BudgetAlertItem(cloned(a.programme), a.hours, a.level) for a in one.budget_alerts
        ]
    return replace(
        one,
        programmes=tuple(programmes),
        load=tuple(load),
        breaches=tuple(breaches),
        soon=tuple(soon),
        budget_alerts=tuple(alerts),
    )


def test_the_leads_digest_of_10000_programmes_is_at_most_1_mb_with_the_overview_as_csv(
    fbh: Fbh,
) -> None:
    digest = lead_of_500(fbh)
    live = len(digest.programmes)
    assert live >= 9_000
    draft = digest_draft(LEAD_KIND, digest, lead_context(digest, fbh.tz), NOW, fbh.tz, "bl.dk")
    with fbh.store.transaction() as tx:
        assert tx.outbox.enqueue([draft], NOW)
        [row] = [r for r in tx.outbox.find() if r.kind == LEAD_KIND]
        data = render_envelope(row, fbh.settings, NOW).data

    assert len(data) <= 1024 * KB
    message = parse(data)
    text = visible_text(html_of(message))
    # what needs attention comes first, each list cut with a count of the rest
    order = [
        "Overskredne svarfrister",
        "Forløb med overskredne opgaver",
        "Budgetadvarsler",
        "Konsulenter med travle uger",
    ]
    assert [text.index(h) for h in order] == sorted(text.index(h) for h in order)
    overdue = sum(1 for p in digest.programmes if p.overdue)
    assert f"… og {overdue - LEAD_LIST_LIMIT} flere: se den vedhæftede fil" in text

    files = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(files) == {"forloeb-2027-W10.csv", "moeder-2027-W10.csv"}
    overview = files["forloeb-2027-W10.csv"]
    assert overview.get_content_type() == "text/csv"
    raw = overview.get_payload(decode=True)
    assert isinstance(raw, bytes) and raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert tuple(rows[0]) == PROGRAMME_COLUMNS
    assert len(rows) == live + 1 and {len(r) for r in rows} == {len(PROGRAMME_COLUMNS)}
    hours = rows[0].index("Timer")
    assert any("," in r[hours] for r in rows[1:])  # a decimal comma, for Danish Excel
    load = files["moeder-2027-W10.csv"].get_payload(decode=True)
    assert isinstance(load, bytes)
    assert len(load.decode("utf-8-sig").splitlines()) == len(digest.load) + 1
