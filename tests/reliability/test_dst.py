"""Daylight saving time: the last Sundays of March and October 2027 in Europe/Copenhagen
(28 March: 02:00 CET → 03:00 CEST; 31 October: 03:00 CEST → 02:00 CET).

The daemon's own parts run in this process with ``now`` as an input, driven by its own
wake-ups: at each step the clock is set to the earliest moment the daemon armed (its delivery
and transition timers, as ``Daemon`` armed them in its APScheduler timer) or its weekly
digest cron trigger names (computed as APScheduler does), and the daemon's delivery pass,
transitions and digest job run at that moment. Mail goes to a real Maildir, the database is a
real SQLite file. Nothing sleeps.

Across each transition this checks that every reminder (weeks and working days keep the local
clock time; hours and minutes are exact elapsed time), request notice, weekly digest,
programme start and task transition comes out at its instant, exactly once, none skipped,
none doubled; and that the daemon wakes up at exactly those instants.

Local times that do not exist (02:00–02:59 on 28 March) are read as winter time, the way
Python and APScheduler read them: 02:30 comes out at 03:30 CEST. Local times that occur twice
(02:00–02:59 on 31 October) come out once, at the first (summer-time) occurrence; APScheduler
fires a weekly job at such a time twice, and the digest's dedupe key keeps it to one mail.
"""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from faults import make_cli

from engine.config.settings import load_settings
from engine.daemon.runner import Daemon
from engine.domain.definitions import load_registry
from engine.domain.model import Contact
from engine.services.facade import Fbh, NewProgramme
from engine.store.store import OutboxMessage, Store
from notifications.transports.maildir import MaildirTransport

CPH = ZoneInfo("Europe/Copenhagen")
NOTICE = time(2, 30)  # requests.notice_time and the digest time: inside both transitions

DST_WORKFLOW = """
[workflow]
key = "dst-test"
version = "1.0"
title = "Sommertid og vintertid"
weeks = 1

[workflow.budget]
role = "tovholder"
min = "1h"
max = "2h"

[[milestones]]
key = "moede"
title = "Møde"
kind = "meeting"
weeks = 1
attendees = ["consultant", "tovholder"]
time = "10:00"
duration = "1h"
location = "Online"
{reminders}

[[milestones]]
key = "opgave"
title = "Opgave"
kind = "task"
weeks = [0, 1]
owner = "tovholder"

[[milestones.reminders]]
before = "1w"
to = ["tovholder"]
"""
# Hours and minutes around 01:00 UTC on the DST Sunday: 55h before the Tuesday meeting in
# March (Monday is a holiday), 32h before the Monday meeting in October; ±30 min, ±1 h.
OFFSETS = ["1w", "1d", "31h30m", "32h", "32h30m", "33h", "54h", "54h30m", "55h", "55h30m", "56h"]
REMINDERS = "".join(
    f'\n[[milestones.reminders]]\nbefore = "{o}"\nto = ["consultant"]\n' for o in OFFSETS
)
CONFIG = """
[requests]
notice_time = "02:30"

[digest]
weekday = "sunday"
time = "02:30"
"""


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CPH)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@dataclass(frozen=True)
class Transition:
    """One DST weekend and what must happen around it (expected values written out by hand)."""

    name: str
    created: datetime  # when the programmes and the request are registered
    until: datetime  # the end of the simulated stretch
    starts: tuple[date, date]  # a Monday programme, and one that starts on the DST Sunday
    meeting: datetime  # where the planner puts week 1's meeting
    by_weeks: datetime  # the "1w" reminder: the local time kept
    by_workdays: datetime  # the "1d" reminder: the previous working day, local time kept
    task_reminder: datetime  # 1w before the task's window closes (16:00 local)
    received: date  # the request: day 10 is the DST Sunday
    notices: tuple[datetime, ...]  # day 10, day 13, escalation
    digest_fires: tuple[datetime, ...]  # the Sunday 02:30 cron job
    digest_weeks: tuple[str, ...]


MARCH = Transition(
    name="march",
    created=local(2027, 3, 18, 9, 0),
    until=local(2027, 4, 5, 12, 0),
    starts=(date(2027, 3, 22), date(2027, 3, 28)),
    meeting=local(2027, 3, 30, 10, 0),  # 29 March is 2. påskedag
    by_weeks=local(2027, 3, 23, 10, 0),  # +01:00, a week before a +02:00 meeting
    by_workdays=local(2027, 3, 24, 10, 0),  # Easter: skærtorsdag and langfredag are holidays
    task_reminder=local(2027, 3, 26, 16, 0),  # +01:00; the window closes 2 April 16:00 +02:00
    received=date(2027, 3, 18),
    notices=(utc(2027, 3, 28, 1, 30), utc(2027, 3, 31, 0, 30), utc(2027, 4, 2, 0, 30)),
    digest_fires=(utc(2027, 3, 21, 1, 30), utc(2027, 3, 28, 1, 30), utc(2027, 4, 4, 0, 30)),
    digest_weeks=("2027-W11", "2027-W12", "2027-W13"),
)
OCTOBER = Transition(
    name="october",
    created=local(2027, 10, 21, 9, 0),
    until=local(2027, 11, 8, 12, 0),
    starts=(date(2027, 10, 25), date(2027, 10, 31)),
    meeting=local(2027, 11, 1, 10, 0),
    by_weeks=local(2027, 10, 25, 10, 0),  # +02:00, a week before a +01:00 meeting
    by_workdays=local(2027, 10, 29, 10, 0),
    task_reminder=local(2027, 10, 29, 16, 0),  # 1w before 5 November 16:00 +01:00
    received=date(2027, 10, 21),
    notices=(utc(2027, 10, 31, 0, 30), utc(2027, 11, 3, 1, 30), utc(2027, 11, 5, 1, 30)),
    digest_fires=(
        utc(2027, 10, 24, 0, 30),
        utc(2027, 10, 31, 0, 30),  # 02:30 CEST
        utc(2027, 10, 31, 1, 30),  # 02:30 CET, the second time round
        utc(2027, 11, 7, 1, 30),
    ),
    digest_weeks=("2027-W42", "2027-W43", "2027-W44"),
)


@dataclass
class Run:
    """What the simulated daemon did."""

    wakes: list[datetime]
    digest_fires: list[datetime]
    rows: list[OutboxMessage]
    maildir: Counter[str]  # Message-ID → files in the Maildir
    events: list[tuple[str, str, datetime]]  # the daemon's transitions: (event, what, at)


async def simulate(home: Path, case: Transition) -> Run:
    workflows = home / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "dst-test.toml").write_text(
        DST_WORKFLOW.format(reminders=REMINDERS), encoding="utf-8"
    )
    cli = make_cli(
        home, "sqlite:///var/fbh.sqlite3", workflows=workflows, extra=CONFIG, weekly_digest=True
    )
    settings = load_settings(cli.config)
    store = Store.open(settings.database_url)
    try:
        fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="daemon:dst")
        for i, start in enumerate(case.starts):
            fbh.create_programme(
                NewProgramme(
                    workflow="dst-test",
                    organisation=f"Boligselskabet {i}",
                    municipality="Helsingør",
                    consultant=Contact(f"Konsulent {i}", f"k{i}@bl.dk"),
                    tovholder=Contact(f"Tovholder {i}", f"t{i}@org.dk"),
                    start=start,
                ),
                case.created,
            )
        fbh.add_request(
            organisation="Boligselskabet Ærø",
            contact=Contact("Kontakt", "kontakt@aeroe.dk"),
            wished_start=case.starts[0] + timedelta(weeks=8),
            received=case.received,
            now=case.created,
            workflow="dst-test",
        )
        return await _drive(fbh, settings.maildir_path, case)
    finally:
        store.dispose()


async def _drive(fbh: Fbh, maildir: Path, case: Transition) -> Run:
    moment = [case.created.astimezone(UTC)]
    daemon = Daemon(fbh, MaildirTransport(maildir), clock=lambda: moment[0], name="daemon:dst")
    await daemon.leadership.start()
    digest = daemon.digest_trigger()
    assert digest is not None
    wakes: list[datetime] = []
    fires: list[datetime] = []
    next_fire = digest.get_next_fire_time(None, moment[0])
    try:
        while moment[0] <= case.until:
            now = moment[0]
            while next_fire is not None and next_fire <= now:  # APScheduler's run times
                fires.append(next_fire.astimezone(UTC))
                await daemon.digest_job()
                next_fire = digest.get_next_fire_time(next_fire, now)
            daemon.timer.scheduler.remove_all_jobs()  # observe what this step arms
            daemon.advance()
            await daemon.deliver_pass()
            armed = [armed_at(daemon, job) for job in ("wake-deliver", "wake-advance")]
            upcoming = [t for t in (*armed, next_fire) if t is not None]
            assert all(t > now for t in upcoming), (now, [str(t) for t in upcoming])
            moment[0] = min(upcoming).astimezone(UTC)
            wakes.append(moment[0])
    finally:
        await daemon.leadership.close()
    with fbh.store.transaction() as tx:
        rows = tx.outbox.find()
        events = [
            (e.event, f"{e.entity} {e.entity_id} {_key(tx, e.entity, e.entity_id)}", e.at)
            for e in tx.events.find()
            if (e.data or {}).get("auto")  # the daemon's time-driven transitions
        ]
    return Run(wakes, fires, rows, _maildir_ids(maildir), events)


def armed_at(daemon: Daemon, job_id: str) -> datetime | None:
    """The moment the daemon armed its one-shot wake-up for (its scheduler is not running
    here, so the job waits among the pending ones and its trigger holds the time)."""
    jobs = [job for job in daemon.timer.scheduler.get_jobs() if job.id == job_id]
    assert len(jobs) <= 1
    return jobs[0].trigger.run_date if jobs else None


def _key(tx: object, entity: str, ident: int) -> str:
    if entity != "milestone":
        return ""
    from engine.store.store import Milestone

    row = tx.session.get(Milestone, ident)  # type: ignore[attr-defined]
    return row.key if row is not None else "?"


def _maildir_ids(maildir: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for folder in ("new", "cur"):
        for path in (maildir / folder).glob("*") if (maildir / folder).is_dir() else []:
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            found[str(parsed["Message-ID"]).strip()] += 1
    return found


@pytest.fixture(params=[MARCH, OCTOBER], ids=lambda c: c.name)
def case(request: pytest.FixtureRequest) -> Iterator[Transition]:
    yield request.param


async def test_everything_comes_out_once_at_its_local_time_across_dst(
    tmp_path: Path, case: Transition, tally: object
) -> None:
    run = await simulate(tmp_path, case)
    tally.faults(1)  # type: ignore[attr-defined]  # the DST transition itself
    rows = run.rows

    # every message was sent, exactly once, at the instant it fell due: the daemon woke then
    assert {r.state for r in rows} == {"sent"}, Counter(r.state for r in rows)
    assert run.maildir == Counter({r.message_id: 1 for r in rows})
    late = [(r.kind, r.due_at, r.sent_at) for r in rows if r.sent_at != max(r.due_at, case.created)]
    assert late == []
    wake_set = set(run.wakes)
    assert {r.due_at for r in rows if r.due_at > case.created} <= wake_set
    tally.sent(len(rows))  # type: ignore[attr-defined]
    tally.lost(sum(1 for r in rows if run.maildir[r.message_id] == 0))  # type: ignore[attr-defined]

    # the meeting reminders: weeks and working days keep 10:00 local; hours are exact
    meeting_reminders = [r for r in rows if r.kind == "reminder" and r.recipient.startswith("k")]
    by_offset: dict[str, set[datetime]] = {}
    for row in meeting_reminders:
        offset = OFFSETS[int(row.dedupe_key.split(":")[4])]
        by_offset.setdefault(offset, set()).add(row.due_at.astimezone(UTC))
    expected = {
        "1w": case.by_weeks,
        "1d": case.by_workdays,
        **{o: case.meeting.astimezone(UTC) - _hours(o) for o in OFFSETS if o[-1] in "hm"},
    }
    assert by_offset == {o: {t.astimezone(UTC)} for o, t in expected.items()}
    assert {t.astimezone(CPH).time() for t in (case.by_weeks, case.by_workdays)} == {time(10)}
    task = [r for r in rows if r.kind == "reminder" and r.recipient.startswith("t")]
    assert {r.due_at for r in task} == {case.task_reminder.astimezone(UTC)}
    assert len(task) == 2  # one per programme, each once

    # the request's notices at 02:30 local: day 10 falls on the DST Sunday
    notices = sorted(r.due_at for r in rows if r.kind.startswith("request_"))
    assert notices == list(case.notices)

    # the weekly digest: every week once per recipient, whatever the cron job did
    assert run.digest_fires == list(case.digest_fires)
    digests = [r for r in rows if r.kind.startswith("digest_")]
    weeks = Counter(
        (r.recipient, r.dedupe_key.rsplit(":", 1)[1]) for r in digests if ":" in r.dedupe_key
    )
    assert set(weeks.values()) == {1}
    assert {w for _, w in weeks} == set(case.digest_weeks)
    assert {r.sent_at for r in digests} <= {f for f in case.digest_fires}

    # transitions at local midnight, each once
    fired = Counter((event, key) for event, key, _ in run.events)
    assert set(fired.values()) == {1}, fired
    starts = sorted(at for event, _, at in run.events if event == "start")
    assert starts == [datetime.combine(d, time(0), tzinfo=CPH) for d in case.starts]
    assert {e for e, *_ in run.events} == {"start", "schedule", "expire", "done", "complete"}
    for event, what, at in run.events:
        moment = at.astimezone(CPH)
        if event == "done":  # a meeting is held when it has ended: 11:00 local
            assert moment == case.meeting + timedelta(hours=1), (event, what, moment)
        else:  # the others at local midnight, summer or winter time
            assert moment.time() == time(0), (event, what, moment)


def _hours(offset: str) -> timedelta:
    hours, _, minutes = offset.removesuffix("m").partition("h")
    return timedelta(hours=int(hours), minutes=int(minutes or 0))


# ----- the real daemon across the transition ---------------------------------------------


@dataclass(frozen=True)
class Crossing:
    """The real ``fbh serve`` running across a transition, with its wall clock set to just
    before each moment that matters (never sleeping for a schedule)."""

    name: str
    notice_time: str  # requests.notice_time
    received: date  # day 10 is the DST Sunday
    notice_due: datetime  # UTC
    digest_due: datetime  # UTC, the first run of the Sunday 02:30 job
    digest_runs: int  # how often APScheduler runs the job that Sunday


LEAD = timedelta(seconds=1.5)  # how long before a due moment the clock is set
OCT_0230_CEST = utc(2027, 10, 31, 0, 30)
CROSSINGS = [
    # 03:00 CEST is the first instant after the gap; 02:30 does not exist: 03:30 CEST
    Crossing("march", "03:00", date(2027, 3, 18), utc(2027, 3, 28, 1), utc(2027, 3, 28, 1, 30), 1),
    # 02:30 happens twice: the notice goes at the first; the job runs at both, the digest once
    Crossing("october", "02:30", date(2027, 10, 21), OCT_0230_CEST, OCT_0230_CEST, 2),
]


@pytest.mark.slow
@pytest.mark.parametrize("crossing", CROSSINGS, ids=[c.name for c in CROSSINGS])
def test_the_running_daemon_sends_once_across_the_transition(
    tmp_path: Path, crossing: Crossing, tally: object
) -> None:
    from faults import Daemons, SmtpSwitch, WallClock, open_fbh, outbox, poll, start_daemon

    smtp, daemons = SmtpSwitch(), Daemons()
    smtp.up()
    try:
        config = CONFIG.replace('notice_time = "02:30"', f'notice_time = "{crossing.notice_time}"')
        cli = make_cli(
            tmp_path,
            "sqlite:///var/fbh.sqlite3",
            mail=smtp.mail(),
            extra=config,
            weekly_digest=True,
        )
        first = min(crossing.notice_due, crossing.digest_due)
        clock = WallClock(tmp_path, first - timedelta(minutes=1))
        with open_fbh(cli) as fbh:  # a consultant (for a digest) and the request
            now = clock.now()
            fbh.create_programme(
                NewProgramme(
                    workflow="socialt-beredskab",
                    organisation="Boligselskabet Sommertid",
                    municipality="Helsingør",
                    consultant=Contact("Anne", "anne@bl.dk"),
                    tovholder=Contact("Søren", "soren@org.dk"),
                    start=crossing.received + timedelta(weeks=6),
                ),
                now,
            )
            fbh.add_request(
                organisation="Boligselskabet Ærø",
                contact=Contact("Kontakt", "kontakt@aeroe.dk"),
                wished_start=crossing.received + timedelta(weeks=8),
                received=crossing.received,
                now=now,
            )
        served = start_daemon(daemons, cli, crossing.name, clock=clock, debug=True)
        served.wait_ready()
        clock.set(first - LEAD, served)  # running, a moment before the transition

        def sent(kind: str) -> list[OutboxMessage]:
            return [r for r in outbox(cli) if r.kind.startswith(kind) and r.state == "sent"]

        def digest_runs() -> int:
            return sum(
                'Job "weekly-digest' in line and "executed successfully" in line
                for line in served.text().splitlines()
            )

        poll(lambda: len(sent("request_reminder")) == 1, 20, "day 10's notice")
        if crossing.digest_due > clock.now():
            clock.set(crossing.digest_due - LEAD, served)
        poll(lambda: digest_runs() >= 1 and len(sent("digest_")) == 2, 20, "the digests")
        if crossing.digest_runs > 1:  # on to the second 02:30 (CET), an hour later
            clock.set(crossing.digest_due + timedelta(hours=1) - LEAD, served)
            poll(lambda: digest_runs() == crossing.digest_runs, 20, "the second run")
            poll(lambda: not any(r.state == "sending" for r in outbox(cli)), 10, "idle")
        assert served.stop()[0] == 0
        tally.faults(1)  # type: ignore[attr-defined]

        [notice] = sent("request_reminder")
        assert notice.due_at == crossing.notice_due
        assert notice.sent_at is not None
        assert timedelta(0) <= notice.sent_at - crossing.notice_due < timedelta(seconds=3)
        digests = sent("digest_")
        assert {r.recipient for r in digests} == {"anne@bl.dk", "lead@bl.dk"}
        for row in digests:
            assert row.sent_at is not None
            assert timedelta(0) <= row.sent_at - crossing.digest_due < timedelta(seconds=3)
        assert digest_runs() == crossing.digest_runs
        rows = outbox(cli)
        ids = smtp.received()
        expected = {r.message_id for r in rows if r.state == "sent"}
        assert set(ids) == expected and set(ids.values()) == {1}
        assert "Traceback" not in served.text()
        tally.sent(len(expected))  # type: ignore[attr-defined]
        tally.lost(len(expected - set(ids)))  # type: ignore[attr-defined]
    finally:
        daemons.cleanup()
        smtp.off()
