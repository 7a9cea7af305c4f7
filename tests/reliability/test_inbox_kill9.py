"""``kill -9`` of ``fbh inbox process`` three times in the middle of a pass over a Maildir
inbox of requests and declines, then a pass to the end.

What engine/services/inbox.py promises: each message is recorded and applied in one
transaction keyed by its Message-ID, and marked (moved to ``cur/``) only after the commit. So:

* nothing is lost: every message ends in ``cur/`` and in the inbox ledger;
* nothing is applied twice: one request per request mail, one answer event and one notice per
  decline, one acknowledgement per request, whatever moment the kills hit;
* a message committed but not yet marked when the process died is only marked by the next pass.
"""

from __future__ import annotations

import mailbox
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from faults import FBH, burst, make_cli, open_fbh, poll, read
from inbound_mail import reply, request
from sqlmodel import select

from engine.store.inbox import InboxMessage

KILLS = 3
REQUESTS = 240
PROGRAMMES = 12


def ledger_size(cli: object) -> int:
    try:
        with read(cli) as tx:  # type: ignore[arg-type]
            return len(tx.session.exec(select(InboxMessage.id)).all())
    except Exception:  # the table or file is being written: try again
        return -1


@pytest.mark.slow
def test_kill_9_mid_pass_loses_nothing_and_applies_nothing_twice(
    tmp_path: Path, tally: object
) -> None:
    cli = make_cli(tmp_path, "sqlite:///var/fbh.sqlite3")
    burst(cli, PROGRAMMES)
    (tmp_path / "var").mkdir(exist_ok=True)
    inbox = mailbox.Maildir(tmp_path / "var" / "inbox", create=True)
    with open_fbh(cli) as fbh, fbh.store.transaction() as tx:
        invites = [
            (row.recipient, row.payload["invite"])
            for row in tx.outbox.find()
            if row.kind == "invite"
            and row.recipient.startswith("t")
            and "workshop" in row.payload["invite"]["uid"]
        ]
    assert len(invites) == PROGRAMMES
    for recipient, invite in invites:
        start = datetime.fromisoformat(invite["start"])
        inbox.add(reply("thunderbird", uid=invite["uid"], attendee=recipient, start=start))
    for i in range(REQUESTS):
        inbox.add(
            request(sender=f"kontakt{i}@org{i}.dk", name=f"Kontakt {i}, Boligorganisation {i}")
        )
    total = len(invites) + REQUESTS

    command = [str(FBH), "--config", str(cli.config), "inbox", "process"]
    for k in range(1, KILLS + 1):
        target = total * k // (KILLS + 2)
        proc = subprocess.Popen(
            command, cwd=tmp_path, env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            poll(
                lambda t=target, p=proc: ledger_size(cli) >= t or p.poll() is not None,
                120,
                f"{target} recorded",
            )
            assert proc.poll() is None, "the pass ended before the kill"
        finally:
            proc.kill()  # SIGKILL
            proc.wait(timeout=30)
        tally.faults(1)  # type: ignore[attr-defined]
    done = subprocess.run(
        command, cwd=tmp_path, env=cli.env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr

    folder = tmp_path / "var" / "inbox"
    assert list((folder / "new").iterdir()) == []
    assert len(list((folder / "cur").iterdir())) == total
    with open_fbh(cli) as fbh, fbh.store.transaction() as tx:
        rows = tx.session.exec(select(InboxMessage)).all()
        requests = tx.requests.find()
        outbox = Counter(row.kind for row in tx.outbox.find())
        answers = tx.events.find(event="answer")
    assert len(rows) == total and {r.state for r in rows} == {"processed"}
    assert len({r.message_id for r in rows}) == total
    assert len(requests) == REQUESTS
    assert len({r.contact_email for r in requests}) == REQUESTS
    assert outbox["request_ack"] == REQUESTS
    assert len(answers) == PROGRAMMES and outbox["meeting_answer"] == PROGRAMMES
    tally.sent(total)  # type: ignore[attr-defined]


def test_a_pass_that_died_after_its_commit_only_marks(tmp_path: Path) -> None:
    """The window between commit and mark, made exact: the file is put back into ``new/`` as
    if the mark had never happened."""
    cli = make_cli(tmp_path, "sqlite:///var/fbh.sqlite3")
    folder = tmp_path / "var" / "inbox"
    folder.parent.mkdir(parents=True, exist_ok=True)
    mailbox.Maildir(folder, create=True).add(request(sender="k@org.dk"))
    command = [str(FBH), "--config", str(cli.config), "inbox", "process", "--json"]
    first = subprocess.run(
        command, cwd=tmp_path, env=cli.env, capture_output=True, text=True, timeout=120
    )
    assert '"processed": 1' in first.stdout, first.stderr
    (done,) = (folder / "cur").iterdir()
    done.rename(folder / "new" / done.name.split(":", 1)[0])

    second = subprocess.run(
        command, cwd=tmp_path, env=cli.env, capture_output=True, text=True, timeout=120
    )

    assert '"processed": 0' in second.stdout and '"already": 1' in second.stdout
    assert list((folder / "new").iterdir()) == []
    with open_fbh(cli) as fbh:
        assert len(fbh.list_requests(datetime.now(UTC) + timedelta(seconds=1))) == 1
