"""The work a peer does per message, the same as fbh's daemon: render one fbh outbox payload
(Jinja2 templates, MIME, iCalendar where the payload has an invite) with
:func:`notifications.envelope.render_envelope` and write it to a Maildir with
:class:`notifications.transports.MaildirTransport`. So the peers' lateness and fbh's include
the same cost per message, and the difference is scheduling and bookkeeping.

``--work none`` skips both: the job only records when it started (pure dispatch overhead).
``--work prerendered`` (the poller only): the job's bytes were rendered before T and stored in
its row, as fbh's render-ahead does; at T the job sets the ``Date`` and writes them, a claimed
batch at once (:meth:`Work.run_stored`), which is fbh's work at due time.
``--fsync on|off``: the Maildir transport's ``fsync`` of each file and of ``new/``
(``[mail] maildir_fsync``), the same for every system of a run.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.config.settings import DatabaseSection, EngineSection, MailSection, Settings
from engine.store.tables import OutboxMessage
from notifications.envelope import render_envelope
from notifications.rendered import with_date
from notifications.transports import Envelope, MaildirTransport

SENDER = "Fra bolig til hjem <fraboligtilhjem@bl.dk>"
SENDER_EMAIL = "fraboligtilhjem@bl.dk"


def settings(home: Path) -> Settings:
    return Settings(
        base_dir=home,
        engine=EngineSection(),
        database=DatabaseSection(url="sqlite:///unused.sqlite3"),
        mail=MailSection(maildir=str(home / "mail"), sender=SENDER),
    )


@dataclass
class Work:
    """Renders and delivers messages; records when each job started and finished."""

    maildir: Path
    kind: str = "render"  # or "none", "prerendered"
    fsync: bool = True
    starts: dict[str, float] = field(default_factory=dict)
    ends: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.settings = settings(self.maildir.parent)
        self.transport = MaildirTransport(self.maildir, fsync=self.fsync)

    def _envelope(self, key: str, payload: dict[str, Any]) -> Any:
        row = OutboxMessage(
            dedupe_key=key,
            kind=payload.get("kind", "reminder"),
            recipient=payload["to"]["email"],
            payload=payload,
            state="sending",
            due_at=datetime.now(UTC),
            created_at=datetime.now(UTC),
            next_attempt_at=datetime.now(UTC),
            message_id=f"<{key}@bench.example>",
        )
        return render_envelope(row, self.settings, datetime.now(UTC))

    def run(self, key: str, payload: dict[str, Any]) -> None:
        """One message, synchronously (APScheduler's threads, the poller)."""
        self.starts[key] = time.time()
        if self.kind == "render":
            envelope = self._envelope(key, payload)
            [result] = self.transport._deliver_all([envelope])  # the sync half of send_batch
            assert result.ok, result.error
        self.ends[key] = time.time()

    def run_stored(self, jobs: list[tuple[str, bytes]]) -> None:
        """A claimed batch whose bytes were rendered ahead: set each ``Date``, write them all
        (one ``send_batch``, as fbh's worker does)."""
        began = time.time()
        for key, _ in jobs:
            self.starts[key] = began
        now = datetime.now(UTC)
        envelopes = [
            Envelope(
                f"<{key}@bench.example>", SENDER_EMAIL, ("x@bench.example",), with_date(d, now)
            )
            for key, d in jobs
        ]
        results = self.transport._deliver_all(envelopes)  # the sync half of send_batch
        assert all(r.ok for r in results), results
        ended = time.time()
        for key, _ in jobs:
            self.ends[key] = ended

    async def run_async(self, key: str, payload: dict[str, Any]) -> None:
        """One message, as fbh's daemon does it: render in the loop, write in a thread."""
        self.starts[key] = time.time()
        if self.kind == "render":
            envelope = self._envelope(key, payload)
            [result] = await self.transport.send_batch([envelope])
            assert result.ok, result.error
        self.ends[key] = time.time()

    @property
    def done(self) -> int:
        return len(self.ends)


def add_work_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", default="render", choices=["render", "none", "prerendered"])
    parser.add_argument("--fsync", default="on", choices=["on", "off"])


def sample_payload(path: Path) -> dict[str, Any]:
    """The payload of a real fbh reminder (written by bench.lateness from the seeded db)."""
    payload: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return payload


def write_result(path: Path, result: dict[str, Any]) -> None:
    path.write_text(json.dumps(result), encoding="utf-8")


def wait_until(condition: Any, seconds: float, what: str, step: float = 0.02) -> None:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > seconds:
            raise SystemExit(f"{what}: not within {seconds} s")
        time.sleep(step)


def vmhwm_kb(pid: int | str = "self") -> int:
    """Peak resident set size of process ``pid`` so far (kB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
