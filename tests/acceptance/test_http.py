"""``fbh serve`` with ``[http]``, the way an operator and a calendar app use it: health,
readiness and metrics, and a consultant's calendar feed fetched over HTTP, parsed by four
parsers and checked against the invites the daemon mailed. On SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import icsparsers
import pytest
from fbhcli import Cli
from icalendar import Calendar
from prometheus_client.parser import text_string_to_metric_families
from served import Daemons, cli_env, daemons_fixture, wait_until, write_daemon_config
from smtpserver import free_port
from test_serve import create_args, programme_mail

CONSULTANT = "k0@bl.dk"
PER_PROGRAMME = 9  # 4 meetings × 2 invites, and the tovholder's summary


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    yield from daemons_fixture()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return "sqlite:///var/fbh.sqlite3"
    return str(request.getfixturevalue("pg_schema_url"))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Http:
    port: int

    def get(self, path: str, **headers: str) -> Reply:
        """GET ``path`` exactly as given (no normalisation of ``..``)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()


def http_cli(home: Path, database_url: str, port: int) -> Cli:
    home.mkdir(parents=True, exist_ok=True)
    extra = f'[http]\nlisten = "127.0.0.1:{port}"\n'
    return Cli(home, write_daemon_config(home, database_url, extra=extra), cli_env())


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("fbh_"), family.name
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def mailed_invites(maildir: Path, recipient: str) -> dict[str, Any]:
    """The latest invite or cancellation mailed to ``recipient`` per UID (icalendar)."""
    latest: dict[str, Any] = {}
    for folder in ("new", "cur"):
        for path in sorted((maildir / folder).glob("*")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if recipient not in str(message["To"]):
                continue
            for part in message.walk():
                if part.get_content_type() == "text/calendar":
                    payload = part.get_payload(decode=True)
                    assert isinstance(payload, bytes)
                    for event in Calendar.from_ical(payload).walk("VEVENT"):
                        uid = str(event["UID"])
                        known = latest.get(uid)
                        if known is None or int(event["SEQUENCE"]) > int(known["SEQUENCE"]):
                            latest[uid] = event
    return latest


def delivered(cli: Cli, count: int) -> None:
    wait_until(lambda: programme_mail(cli.maildir).total() >= count, 20, f"{count} mails")


def test_health_metrics_and_a_feed_over_http(
    tmp_path: Path, daemons: Daemons, database_url: str
) -> None:
    port = free_port()
    cli, web = http_cli(tmp_path, database_url, port), Http(port)
    kept = cli(*create_args("Boligselskabet Østervang"), "--json").json()
    gone = cli(*create_args("Vestbo"), "--json").json()
    served = daemons.start(cli, "http")
    served.wait_ready()
    delivered(cli, 2 * PER_PROGRAMME)

    health = web.get("/healthz")
    assert (health.status, health.body) == (200, b"ok\n")
    ready = web.get("/readyz")
    assert ready.status == 200
    assert json.loads(ready.body)["role"] == "leader"
    assert json.loads(ready.body)["outbox"] == {"due": 0, "lag_seconds": 0.0}
    scraped = web.get("/metrics")
    assert scraped.status == 200
    assert scraped.headers["Content-Type"].startswith("text/plain; version=")
    metrics = metric_values(scraped.body.decode())
    assert metrics[("fbh_leader", ())] == 1.0
    sent = (("kind", "invite"), ("state", "sent"))
    assert metrics[("fbh_outbox_messages", sent)] == 16
    assert metrics[("fbh_outbox_lateness_seconds_count", (("kind", "invite"),))] == 16

    path = cli("feed", "token", CONSULTANT).out.strip()
    assert path.startswith("/feeds/") and path.endswith(".ics")
    first = web.get(path)
    assert first.status == 200
    assert first.headers["Content-Type"] == "text/calendar; charset=utf-8"
    etag = first.headers["ETag"]
    unchanged = web.get(path, **{"If-None-Match": etag})
    assert (unchanged.status, unchanged.body, unchanged.headers["ETag"]) == (304, b"", etag)
    assert web.get(path, **{"If-None-Match": '"something-else"'}).status == 200

    # A change: one meeting moved, one programme cancelled; the old ETag no longer matches.
    workshop = next(m for m in kept["milestones"] if m["key"] == "workshop")
    moved = datetime.fromisoformat(workshop["start"]).replace(hour=10).isoformat()
    cli("milestone", "reschedule", str(kept["id"]), "workshop", "--start", moved)
    cli("programme", "cancel", str(gone["id"]))
    wait_until(lambda: web.get(path, **{"If-None-Match": etag}).status == 200, 10, "a new ETag")
    wait_until(lambda: not served_due(web), 20, "the updates delivered")

    def cancellations_in_maildir() -> bool:
        # Nothing due can still mean a batch in flight: wait for its files too.
        mailed = mailed_invites(cli.maildir, CONSULTANT)
        return {str(e["STATUS"]) for u, e in mailed.items() if f"-{gone['id']}-" in u} == {
            "CANCELLED"
        }

    wait_until(cancellations_in_maildir, 20, "the cancellations in the Maildir")
    feed = web.get(path)
    assert feed.headers["ETag"] != etag
    assert "Østervang".encode() in feed.body

    invites = mailed_invites(cli.maildir, CONSULTANT)
    assert len(invites) == 8
    expected = {
        uid: {
            "dtstart_utc": icsparsers.utc_text(e["DTSTART"].dt),
            "dtend_utc": icsparsers.utc_text(e["DTEND"].dt),
            "sequence": int(e["SEQUENCE"]),
            "status": str(e["STATUS"]),
        }
        for uid, e in invites.items()
    }
    [workshop_uid] = [
        uid for uid in expected if uid.endswith(f"-{kept['id']}-socialt-beredskab-workshop@bl.dk")
    ]
    assert expected[workshop_uid]["sequence"] == 1
    assert expected[workshop_uid]["dtstart_utc"] == icsparsers.utc_text(moved)
    assert {e["status"] for uid, e in expected.items() if f"-{gone['id']}-" in uid} == {"CANCELLED"}
    for name in icsparsers.NAMES:
        parsed = icsparsers.parser(name)(feed.body)
        shown = {uid: {k: v for k, v in e.items() if k != "summary"} for uid, e in parsed.items()}
        assert shown == expected, name

    wrong = web.get("/feeds/" + "A" * 43 + ".ics")
    unknown = web.get("/nothing-here")
    assert (wrong.status, unknown.status) == (404, 404)
    assert wrong.body == unknown.body
    for trick in (
        "/feeds/../healthz",
        "/feeds/..%2fhealthz",
        "/feeds/%2e%2e/metrics",
        f"{path}/../../metrics",
        "/feeds/" + path.split("/")[-1].replace(".ics", "") + "%2eics",
        "//healthz",
    ):
        assert web.get(trick).status == 404, trick

    assert "1 feed token revoked" in cli("feed", "token", CONSULTANT, "--revoke").out
    revoked = web.get(path)
    assert (revoked.status, revoked.body) == (404, wrong.body)

    code, _ = served.stop()
    assert code == 0
    assert "http: stopped" in served.text()
    assert path.split("/")[-1] not in served.text()  # the token is never logged


def served_due(web: Http) -> bool:
    """Whether the daemon still has messages due (its own /readyz)."""
    return bool(json.loads(web.get("/readyz").body)["outbox"]["due"])


def test_a_port_in_use_is_one_line_and_exit_3(tmp_path: Path, daemons: Daemons) -> None:
    port = free_port()
    first = http_cli(tmp_path / "a", "sqlite:///var/fbh.sqlite3", port)
    served = daemons.start(first, "a")
    served.wait_ready()
    second = http_cli(tmp_path / "b", "sqlite:///var/fbh.sqlite3", port)

    result = second("serve", check=False)

    assert result.code == 3
    assert result.err.strip().splitlines()[-1].startswith("error: [http] listen: ")
    assert "address already in use" in result.err.lower()
    assert "Traceback" not in result.err
    assert served.stop()[0] == 0
