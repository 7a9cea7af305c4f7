"""HTML, script and template syntax in names come out escaped, in every kind of mail.

Organisation names (and the other texts people type: municipality, names, a cancellation
reason, and the texts of a workflow) are put into every kind of mail fbh sends. For each
hostile text the HTML part must have exactly the elements and attributes it has for a harmless
name, and its visible text must be the harmless text with the hostile one in its place,
literally: escaped once (``&lt;`` stays ``&lt;``, not ``&amp;lt;`` and not ``<``), and never
evaluated (``{{ 7*7 }}`` stays ``{{ 7*7 }}``). The HTML is parsed with ``html.parser``; the
message with Python's ``email`` package.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hostile_input import REPO, Cli, db_dump, write_config
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mail_flow import (
    MARKERS,
    Flow,
    Html,
    fold,
    marked_flow,
    mentions,
    parse,
    render_row,
    swap_text,
)

from engine.domain.model import MAIL_KINDS
from engine.store.store import OutboxMessage

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)' x='",
    "<svg/onload=alert(1)>",
    "<iframe srcdoc='<script>alert(1)</script>'>",
    "<a href=javascript:alert(1)>klik</a>",
    "</td></tr></table><h1>Falsk</h1>",
    "<style>body{display:none}</style>",
    "<!--",
    "-->",
    "<![CDATA[x]]>",
    "&lt;script&gt;",
    "&amp;lt;",
    "&#60;b&#62;fed&#60;/b&#62;",
    "&nbsp;",
    "{{ 7*7 }}",
    "{{ config }}{{ self.__init__.__globals__ }}",
    "{% for i in range(3) %}x{% endfor %}",
    "{# kommentar #}",
    "${7*7} #{7*7} <%= 7*7 %>",
    "Hansen & Søn <bo@hansen.dk>",
    "\u202eesrever\u202c",
    "A\r\nB\nC\u2028D\u0085E",
    "\x00\x07\x1b[31m",
]
HTML_TEXT = st.one_of(
    st.sampled_from(PAYLOADS),
    st.lists(st.sampled_from(PAYLOADS), min_size=2, max_size=4).map("".join),
    st.text(
        alphabet=st.one_of(
            st.characters(exclude_categories=("Cs",)), st.sampled_from("<>&\"'{}%#;/=!-")
        ),
        min_size=1,
        max_size=40,
    ),
).filter(lambda text: text.strip() != "")
FIELDS = sorted(MARKERS)


@st.composite
def hostile_texts(draw: st.DrawFn) -> dict[str, str]:
    """The organisation name always, and some of the other texts, each hostile."""
    others = draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=4))
    return {field: draw(HTML_TEXT) for field in {"org", *others}}


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    return marked_flow(tmp_path_factory.mktemp("html-flow"))


class Mails(list[tuple[OutboxMessage, Any]]):
    """The harmless renderings (short to print when hypothesis reports an example)."""

    def __repr__(self) -> str:
        return f"<{len(self)} mails>"


@pytest.fixture(scope="module")
def base(flow: Flow) -> Mails:
    """Each mail rendered with the harmless markers; every kind shows the organisation."""
    rendered = Mails()
    for row in flow.rows:
        message = parse(render_row(row, flow.settings, {}))
        html = Html(message.get_body(("html",)).get_content())  # type: ignore[union-attr]
        assert MARKERS["org"] in html.visible, f"{row.kind} does not show the organisation"
        rendered.append((row, message))
    kinds = {row.kind for row, _ in rendered}
    assert set(MAIL_KINDS) <= kinds
    return rendered


def without_br(tags: list[tuple[str, tuple[str, ...]]]) -> list[tuple[str, tuple[str, ...]]]:
    """Line breaks in a multi-line text (a reason, a description) become <br> on purpose."""
    return [tag for tag in tags if tag[0] not in ("br", "/br")]


def check_html(base_html: str, html: str, hostile: dict[str, str], kind: str) -> None:
    before, after = Html(base_html), Html(html)
    assert without_br(after.tags) == without_br(before.tags), f"{kind}: the elements changed"
    assert "<script" not in html.lower(), kind
    assert not any(name.lower().startswith("on") for _, name, _ in after.attributes), kind
    assert [(t, n, fold(swap_text(v or "", hostile))) for t, n, v in before.attributes] == [
        (t, n, fold(v or "")) for t, n, v in after.attributes
    ], f"{kind}: an attribute changed"
    expected = fold(swap_text(before.visible, hostile))
    assert after.visible == expected, f"{kind}: the text is not the literal name"


def check_mail(row: OutboxMessage, base_message: Any, raw: bytes, hostile: dict[str, str]) -> None:
    message = parse(raw)
    base_html = base_message.get_body(("html",)).get_content()
    html = message.get_body(("html",)).get_content()
    check_html(base_html, html, hostile, row.kind)
    base_text = base_message.get_body(("plain",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert fold(text) == fold(swap_text(base_text, hostile)), f"{row.kind}: the text part"


@settings(
    max_examples=70,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostile=hostile_texts())
@example(hostile={"org": "<script>alert(1)</script>"})
@example(hostile={"org": '"><img src=x onerror=alert(1)>', "municipality": "<b>fed</b>"})
@example(hostile={"org": "&lt;script&gt; &amp; Co", "consultant": "&lt;"})
@example(hostile={"org": "{{ 7*7 }}", "reason": "{% if true %}ja{% endif %}\n{{ 7*7 }}"})
@example(hostile={"org": "Fællesbo <Øst> & Co", "title": "<b>Workshop</b>", "location": "<i>"})
def test_every_mail_kind_escapes_hostile_names(
    flow: Flow, base: Mails, tally: Any, hostile: dict[str, str]
) -> None:
    tally.inputs(len(hostile))
    for row, base_message in base:
        if not mentions(row, hostile):
            continue
        try:
            raw = render_row(row, flow.settings, hostile)
        except Exception:  # the worker would mark the row failed: a lost message
            tally.lost(1)
            raise
        check_mail(row, base_message, raw, hostile)


# ----- end to end: the name typed on the command line, the mail in the Maildir ---------------


@pytest.mark.parametrize(
    "org",
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "&lt;Boligselskabet&gt; & Co",
        "{{ 7*7 }} {% raw %}",
    ],
)
def test_a_hostile_name_from_the_command_line(tmp_path: Path, tally: Any, org: str) -> None:
    """``fbh programme create --org …`` then ``fbh outbox send``: every mail in the Maildir
    shows the name literally and has no element the name brought."""
    database = tmp_path / "fbh.sqlite3"
    cli = Cli(tmp_path, write_config(tmp_path, database))
    created = cli(
        "programme",
        "create",
        "--workflow",
        "socialt-beredskab",
        "--org",
        org,
        "--municipality",
        "Helsingør",
        "--consultant",
        "Anne <anne@bl.dk>",
        "--tovholder",
        "Søren <soren@oestervang.dk>",
        "--start",
        "2030-01-07",
        "--json",
    )
    tally.inputs(1)
    assert created.code == 0, created
    sent = cli("outbox", "send", "--json")
    assert sent.code == 0, sent
    mails = sorted((tmp_path / "mail" / "new").iterdir())
    tally.sent(len(mails))
    assert len(mails) >= 2
    assert json.loads(sent.out)["failed"] == 0, sent
    for path in mails:
        message = parse(path.read_bytes())
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        page = Html(html)
        assert org in page.visible, path.name
        assert {tag.lstrip("/") for tag, _ in page.tags} <= TEMPLATE_TAGS, path.name
        assert not any(n.lower().startswith("on") for _, n, _ in page.attributes), path.name
    assert db_dump(database)  # the store is intact and readable


# Every element name the HTML templates contain: a name must never bring another.
TEMPLATE_TAGS = {
    match.lower()
    for path in (REPO / "notifications" / "templates").glob("*.html")
    for match in re.findall(r"</?([A-Za-z][A-Za-z0-9]*)", path.read_text(encoding="utf-8"))
}
