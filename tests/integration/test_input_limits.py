"""The services check free text like the CLI does (issue 13, §5), on SQLite and PostgreSQL: a
value over its limit or with a control character is refused before anything is written."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from engine.domain.errors import InvalidInputError
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.services.requests import Acceptance
from engine.store.store import Store

NOW = datetime(2027, 1, 25, 10, 0, tzinfo=UTC)
ANNE = Contact("Anne", "anne@bl.dk")
KAREN = Contact("Karen", "karen@faellesbo.dk")


def counts(store: Store) -> tuple[int, int, int]:
    with store.transaction() as tx:
        return len(tx.programmes.find()), len(tx.requests.find()), len(tx.events.find())


def new(**changes: object) -> NewProgramme:
    values: dict[str, object] = {
        "workflow": "socialt-beredskab",
        "organisation": "Østervang",
        "municipality": "Helsingør",
        "consultant": ANNE,
        "tovholder": KAREN,
        "start": date(2027, 3, 1),
    }
    return NewProgramme(**(values | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"municipality": "x" * 100_000}, "municipality is longer than 200 characters"),
        ({"municipality": "Aar\x1b]0;x\x07hus"}, "control characters are not allowed"),
        ({"organisation": "Øst\x9b2J"}, "control characters are not allowed"),
        ({"organisation": "   "}, "organisation must not be empty"),
    ],
)
def test_create_programme_checks_its_text(
    fbh: Fbh, store: Store, changes: dict[str, object], message: str
) -> None:
    before = counts(store)
    with pytest.raises(InvalidInputError, match=message):
        fbh.create_programme(new(**changes), NOW)
    assert counts(store) == before


def test_requests_check_organisation_municipality_and_reason(fbh: Fbh, store: Store) -> None:
    with pytest.raises(InvalidInputError, match="organisation is longer than 200"):
        fbh.add_request(
            organisation="Ø" * 201,
            contact=KAREN,
            wished_start=date(2027, 3, 1),
            received=None,
            now=NOW,
        )
    view = fbh.add_request(
        organisation="Fællesbo",
        contact=KAREN,
        wished_start=date(2027, 3, 1),
        received=None,
        now=NOW,
    )
    before = counts(store)
    acceptance = Acceptance(
        start=date(2027, 3, 1), consultant=ANNE, tovholder=KAREN, municipality="Aar\x1b[2Jhus"
    )
    with pytest.raises(InvalidInputError, match="municipality 'Aar\\\\x1b\\[2Jhus': control"):
        fbh.requests.accept(view.id, acceptance, NOW)
    with pytest.raises(InvalidInputError, match="reason is longer than 1000 characters"):
        fbh.requests.decline(view.id, "x" * 100_000, NOW)
    assert counts(store) == before
    assert fbh.requests.decline(view.id, "  ikke  plads ", NOW).state == "declined"


def test_cancel_checks_its_reason(fbh: Fbh, store: Store) -> None:
    created = fbh.create_programme(new(), NOW)
    with pytest.raises(InvalidInputError, match=r"reason .*control characters"):
        fbh.cancel(created.id, NOW, reason="Aflyst\x1b]0;x\x07")
    assert fbh.show(created.id).state == "planned"


def test_a_reason_may_span_lines(fbh: Fbh, store: Store) -> None:
    created = fbh.create_programme(new(), NOW)
    fbh.cancel(created.id, NOW, reason="Aflyst  pga.\r\nsygdom\r\n\r\nmvh Anne  ")
    with store.transaction() as tx:
        cancel = [e for e in tx.events.find(programme_id=created.id) if e.event == "cancel"]
    assert cancel[0].data["reason"] == "Aflyst pga.\nsygdom\n\nmvh Anne"
