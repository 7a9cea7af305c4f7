"""Fill a database with realistic fbh data quickly: N pending milestones, M pending outbox rows.

A few real programmes are made first through :meth:`engine.services.facade.Fbh.create_programme`
(socialt beredskab, with and without TILPASSET, starting 5–8 weeks ahead), so every row has
the shape fbh itself writes: the programme with its workflow snapshot, its planned milestones,
its reminders and task notices. Their invites and summaries are marked ``sent`` (a daemon
would have sent them when the programme was made). Then the rows are cloned with SQLAlchemy
Core ``executemany`` (new ids and dedupe keys, dates shifted by 1–730 days, one organisation
and tovholder per clone, 20 consultants in all) until there are ``milestones`` pending
milestones (state planned/scheduled, in planned programmes) and ``outbox`` pending outbox
rows, all due in the future. The outbox rows are the reminders and task notices of the
first programmes (about three per milestone); later programmes have milestones only. As in a
database a daemon has served for a while, this week's digests are ``sent`` and the
``weekly-digest`` event of the job that queued them is in the log; PostgreSQL gets
``ANALYZE`` (autovacuum's job after a bulk load).

Seeding is slow compared with copying a file, so benchmarks seed a template once
(:func:`sqlite_template`, :func:`pg_template`; cached for a day, keyed by the counts, this
file's ``SEED_VERSION`` and the schema's Alembic head) and copy it for each run
(:func:`fresh_sqlite`, :func:`fresh_pg`).

``python -m bench.seed --url sqlite:///tmp/x.sqlite3 [--milestones 100000] [--outbox 100000]``
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url

from bench import harness
from engine.config.settings import DatabaseSection, EngineSection, MailSection, Settings
from engine.daemon.runner import WEEKLY_DIGEST_EVENT, last_fired
from engine.domain.definitions import load_registry
from engine.domain.model import Contact, OutboxState
from engine.services.facade import Fbh, NewProgramme
from engine.store.base import table_of
from engine.store.database import head_revision, redact
from engine.store.store import Store
from engine.store.tables import Event, Milestone, Organisation, OutboxMessage, Person, Programme
from notifications.digests import CONSULTANT_KIND, LEAD_KIND, digest_key

SEED_VERSION = "3"  # 3: every timed mail queued at seeding (queue_ahead_days)
REPO = harness.BENCH.parent
WORK = Path(os.environ.get("FBH_BENCH_WORK", Path(tempfile.gettempdir()) / "fbh-bench"))
TEMPLATE_MAX_AGE = timedelta(days=1)
CONSULTANTS = 20
CHUNK = 5000
PENDING_KINDS = ("reminder", "task_due")  # what stays pending in a programme made weeks ago
_TEMPLATES: tuple[tuple[int, tuple[str, ...]], ...] = (
    (35, ()),
    (42, ("tilpasset",)),
    (49, ()),
    (56, ("tilpasset",)),
)


@dataclass(frozen=True)
class Seeded:
    url: str
    programmes: int
    milestones: int  # pending (planned or scheduled)
    outbox: int  # pending
    seconds: float


def settings_for(url: str, home: Path) -> Settings:
    return Settings(
        base_dir=home,
        engine=EngineSection(workflows=str(REPO / "workflows")),
        database=DatabaseSection(url=url),
        mail=MailSection(
            maildir=str(home / "mail"),
            sender="Fra bolig til hjem <fraboligtilhjem@bl.dk>",
            lead="Programleder <programleder@bl.dk>",
            # every reminder and task notice queued at creation, as before the rolling horizon
            # (docs/notifications.md): the templates' pending rows are the benchmarks' data
            queue_ahead_days=3660,
        ),
    )


def seed(
    url: str,
    *,
    milestones: int = 100_000,
    outbox: int = 100_000,
    now: datetime | None = None,
) -> Seeded:
    """Add programmes to the (empty or fbh) database at ``url`` until it holds at least
    ``milestones`` pending milestones and exactly ``outbox`` pending outbox rows."""
    began = time.perf_counter()
    now = now or datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="fbh-seed-") as home:
        settings = settings_for(url, Path(home))
        store = Store.open(url)
        try:
            fbh = Fbh(settings, store, load_registry(settings.workflows_dir), actor="seed")
            templates = _make_templates(fbh, now)
            with store.engine.begin() as connection:
                counts = _clone(connection, templates, now, milestones=milestones, outbox=outbox)
                _this_weeks_digest(connection, settings, now)
        finally:
            store.dispose()
    database = make_url(url).database
    if make_url(url).get_backend_name() == "postgresql":
        # What autovacuum does soon after a bulk load: without statistics the planner takes
        # the tables for empty (SQLite keeps none unless asked: fbh never runs ANALYZE).
        with psycopg.connect(libpq(url), autocommit=True) as connection:
            connection.execute("ANALYZE")
    elif make_url(url).get_backend_name() == "sqlite" and database:
        with contextlib.closing(sqlite3.connect(database)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Seeded(url, *counts, seconds=time.perf_counter() - began)


@dataclass
class _Template:
    programme: dict[str, Any]
    milestones: list[dict[str, Any]]
    outbox: list[dict[str, Any]]  # pending rows


def _make_templates(fbh: Fbh, now: datetime) -> list[_Template]:
    today = now.date()
    ids = []
    for n, (days, extensions) in enumerate(_TEMPLATES):
        start = today + timedelta(days=days)
        start += timedelta(days=-start.weekday() % 7)  # a Monday
        view = fbh.create_programme(
            NewProgramme(
                workflow="socialt-beredskab",
                organisation=f"Boligselskabet Skabelon {n}",
                municipality="Helsingør",
                consultant=Contact("Konsulent 0", "konsulent0@bl.dk"),
                tovholder=Contact(f"Tovholder skabelon {n}", f"tovholder-skabelon{n}@example.dk"),
                start=start,
                extensions=extensions,
            ),
            now,
        )
        ids.append(view.id)
    templates = []
    with fbh.store.engine.begin() as connection:
        # What a daemon would have sent at once: invites and summaries.
        connection.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.state == OutboxState.PENDING.value,  # type: ignore[arg-type]
                OutboxMessage.kind.not_in(PENDING_KINDS),  # type: ignore[attr-defined]
            )
            .values(
                state=OutboxState.SENT.value,
                attempts=1,
                claimed_at=now,
                claimed_by="seed",
                sent_at=now,
            )
        )
        for ident in ids:
            programme = _rows(connection, Programme, Programme.id == ident)[0]
            rows = _rows(connection, Milestone, Milestone.programme_id == ident)
            pending = _rows(
                connection,
                OutboxMessage,
                OutboxMessage.programme_id == ident,
                OutboxMessage.state == OutboxState.PENDING.value,
            )
            assert all(r["due_at"] > now for r in pending), "template rows must lie ahead"
            templates.append(_Template(programme, rows, pending))
    return templates


def _rows(connection: Any, table: Any, *where: Any) -> list[dict[str, Any]]:
    statement = select(table_of(table)).where(*where).order_by(table_of(table).c.id)
    return [dict(row._mapping) for row in connection.execute(statement)]


def _clone(
    connection: Any, templates: list[_Template], now: datetime, *, milestones: int, outbox: int
) -> tuple[int, int, int]:
    """Insert clones; returns (programmes, pending milestones, pending outbox rows)."""
    next_id = {
        table: (connection.execute(select(func.max(table_of(table).c.id))).scalar() or 0) + 1
        for table in (Programme, Milestone, OutboxMessage, Person, Organisation)
    }
    have_milestones = sum(len(t.milestones) for t in templates)
    have_outbox = sum(len(t.outbox) for t in templates)
    consultants = [
        {
            "id": next_id[Person] + c,
            "name": f"Konsulent {c + 1}",
            "email": f"konsulent{c + 1}@bl.dk",
            "created_at": now,
        }
        for c in range(CONSULTANTS)
    ]
    _insert(connection, Person, consultants)
    next_id[Person] += CONSULTANTS
    programmes: list[dict[str, Any]] = []
    people: list[dict[str, Any]] = []
    organisations: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    clone = 0
    while have_milestones < milestones:
        template = templates[clone % len(templates)]
        shift = timedelta(days=1 + (clone * 7919) % 730)
        programme_id = next_id[Programme] + clone
        tovholder_id = next_id[Person] + clone
        organisation_id = next_id[Organisation] + clone
        consultant = consultants[clone % CONSULTANTS]
        organisations.append(
            {"id": organisation_id, "name": f"Boligorganisation {clone}", "created_at": now}
        )
        tovholder = f"tovholder{clone}@example.dk"
        people.append(
            {
                "id": tovholder_id,
                "name": f"Tovholder {clone}",
                "email": tovholder,
                "created_at": now,
            }
        )
        programmes.append(
            {
                **template.programme,
                "id": programme_id,
                "organisation_id": organisation_id,
                "consultant_id": consultant["id"],
                "tovholder_id": tovholder_id,
                "start_date": template.programme["start_date"] + shift,
                "end_date": template.programme["end_date"] + shift,
            }
        )
        new_ids: dict[int, int] = {}
        for m in template.milestones:
            new_ids[m["id"]] = next_id[Milestone]
            next_id[Milestone] += 1
            rows.append(
                {
                    **m,
                    "id": new_ids[m["id"]],
                    "programme_id": programme_id,
                    "window_start": m["window_start"] + shift,
                    "window_end": m["window_end"] + shift,
                    "start_at": _shifted(m["start_at"], shift),
                    "end_at": _shifted(m["end_at"], shift),
                }
            )
        have_milestones += len(template.milestones)
        emails = {"konsulent0@bl.dk": consultant["email"]}
        for message in template.outbox[: max(outbox - have_outbox, 0)]:
            recipient = emails.get(message["recipient"], tovholder)
            key = f"{message['dedupe_key']}:seed{clone}"
            messages.append(
                {
                    **message,
                    "id": next_id[OutboxMessage],
                    "dedupe_key": key,
                    "programme_id": programme_id,
                    "milestone_id": new_ids.get(message["milestone_id"]),
                    "recipient": recipient,
                    "payload": {
                        **message["payload"],
                        "to": {**message["payload"]["to"], "email": recipient},
                    },
                    "due_at": message["due_at"] + shift,
                    "next_attempt_at": message["next_attempt_at"] + shift,
                    "message_id": f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@bl.dk>",
                }
            )
            next_id[OutboxMessage] += 1
            have_outbox += 1
        clone += 1
        if len(rows) >= CHUNK:
            _flush(connection, organisations, people, programmes, rows, messages)
    _flush(connection, organisations, people, programmes, rows, messages)
    if connection.dialect.name == "postgresql":
        for table in ("programmes", "milestones", "outbox", "people", "organisations"):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )
    return clone + len(templates), have_milestones, have_outbox


def _this_weeks_digest(connection: Any, settings: Settings, now: datetime) -> None:
    """A daemon ran this week's digest job (steady state): the digests are sent and the job
    recorded its ``weekly-digest`` event, so a daemon starting now does not run it again."""
    when = settings.digest_time
    trigger = CronTrigger(
        day_of_week=when.weekday, hour=when.at.hour, minute=when.at.minute, timezone=settings.tz
    )
    moment = last_fired(trigger, now)
    if moment is None:
        return
    recipients = [(CONSULTANT_KIND, f"konsulent{c + 1}@bl.dk") for c in range(CONSULTANTS)]
    recipients.append((LEAD_KIND, "programleder@bl.dk"))
    day = moment.astimezone(settings.tz).date()
    rows = []
    for kind, email in recipients:
        key = digest_key(kind, email, day)
        rows.append(
            {
                "dedupe_key": key,
                "kind": kind,
                "recipient": email,
                "payload": {"template": kind, "to": {"name": email, "email": email}},
                "state": OutboxState.SENT.value,
                "due_at": moment,
                "created_at": moment,
                "attempts": 1,
                "next_attempt_at": moment,
                "claimed_at": moment,
                "claimed_by": "seed",
                "sent_at": moment,
                "message_id": f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@bl.dk>",
            }
        )
    _insert(connection, OutboxMessage, rows)
    connection.execute(
        insert(table_of(Event)).values(
            at=moment,
            actor="daemon:seed",
            entity="daemon",
            event=WEEKLY_DIGEST_EVENT,
            data={"queued": len(rows)},
        )
    )


def _shifted(value: datetime | None, shift: timedelta) -> datetime | None:
    return None if value is None else value + shift


def _flush(connection: Any, *batches: list[dict[str, Any]]) -> None:
    for table, batch in zip(
        (Organisation, Person, Programme, Milestone, OutboxMessage), batches, strict=True
    ):
        _insert(connection, table, batch)
        batch.clear()


def _insert(connection: Any, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        connection.execute(insert(table_of(table)), list(rows[start : start + CHUNK]))


# ----- pending counts and the rows that fall due ---------------------------------------------


def counts(url: str) -> dict[str, int]:
    """Pending milestones and outbox rows, and programmes (to check a seeded database)."""
    store = Store.open(url, run_migrations=False)
    try:
        with store.engine.connect() as connection:
            return {
                "programmes": connection.execute(
                    select(func.count()).select_from(table_of(Programme))
                ).scalar_one(),
                "milestones": connection.execute(
                    select(func.count())
                    .select_from(table_of(Milestone))
                    .where(text("state IN ('planned', 'scheduled')"))
                ).scalar_one(),
                "outbox": connection.execute(
                    select(func.count())
                    .select_from(table_of(OutboxMessage))
                    .where(text("state = 'pending'"))
                ).scalar_one(),
            }
    finally:
        store.dispose()


def make_due(url: str, count: int, at: datetime, *, spread: timedelta = timedelta(0)) -> list[int]:
    """Move ``count`` pending reminders (spread over the table, at most one per programme
    where possible) to fall due at ``at`` (+ i·spread/count); returns their ids."""
    store = Store.open(url, run_migrations=False)
    try:
        with store.engine.begin() as connection:
            table = table_of(OutboxMessage)
            candidates = [
                row.id
                for row in connection.execute(
                    select(table.c.id)
                    .where(table.c.state == "pending", table.c.kind == "reminder")
                    .order_by(table.c.id)
                )
            ]
            if len(candidates) < count:
                raise SystemExit(f"only {len(candidates)} pending reminders; need {count}")
            step = len(candidates) / count
            ids = [candidates[int(i * step)] for i in range(count)]
            for i, ident in enumerate(ids):
                when = at + spread * i / count
                connection.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == ident)
                    .values(due_at=when, next_attempt_at=when)
                )
        return ids
    finally:
        store.dispose()


# ----- templates (seeded once) and fresh copies ----------------------------------------------


def template_key(milestones: int, outbox: int) -> str:
    raw = json.dumps([SEED_VERSION, head_revision(), milestones, outbox])
    return hashlib.sha256(raw.encode()).hexdigest()[:10]


def sqlite_template(milestones: int, outbox: int, *, log: Any = print) -> Path:
    """A seeded SQLite file (made once, reused while younger than a day)."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"seed-{template_key(milestones, outbox)}.sqlite3"
    if path.exists() and _young(path.stat().st_mtime):
        return path
    partial = path.with_suffix(".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    log(f"seeding {path} ({milestones} milestones, {outbox} outbox rows) …")
    done = seed(f"sqlite:///{partial}", milestones=milestones, outbox=outbox)
    log(f"seeded in {done.seconds:.1f} s: {done}")
    os.replace(partial, path)
    return path


def fresh_sqlite(dest: Path, milestones: int, outbox: int, *, log: Any = print) -> str:
    """Copy the template to ``dest``; returns its URL."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template(milestones, outbox, log=log), dest)
    return f"sqlite:///{dest}"


def sqlite_payload(path: Path) -> dict[str, Any]:
    """The payload of the first pending reminder in a seeded SQLite file."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        row = connection.execute(
            "SELECT payload FROM outbox WHERE state = 'pending' AND kind = 'reminder' "
            "ORDER BY id LIMIT 1"
        ).fetchone()
    payload: dict[str, Any] = json.loads(row[0])
    return payload


def _young(mtime: float) -> bool:
    return time.time() - mtime < TEMPLATE_MAX_AGE.total_seconds()


def pg_url(database: str, base: str = harness.PG_URL) -> str:
    """``base`` (a SQLAlchemy URL) pointed at ``database``."""
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(libpq(pg_url("postgres")), autocommit=True)


def drop_database(name: str) -> None:
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(name: str, *, template: str | None = None) -> str:
    """A new database ``name`` (dropped first if it exists); returns its SQLAlchemy URL."""
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        clause = f' TEMPLATE "{template}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{clause}')
    return pg_url(name)


def pg_template(milestones: int, outbox: int, *, log: Any = print) -> str:
    """The name of a seeded template database (made once, reused while younger than a day)."""

    def build(url: str) -> None:
        log(f"seeding {redact(url)} ({milestones} milestones, {outbox} outbox rows) …")
        done = seed(url, milestones=milestones, outbox=outbox)
        log(f"seeded in {done.seconds:.1f} s: {done}")

    return cached_database(f"bench_fbh_tpl_{template_key(milestones, outbox)}", build)


def cached_database(name: str, build: Callable[[str], None]) -> str:
    """Database ``name``, made by ``build(url)`` unless a complete one younger than a day
    exists (its creation time is kept as the database's comment, set when ``build`` is
    done). Returns ``name``, to be used as a template."""
    with _admin() as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if row is not None and row[0] and _young(float(row[0])):
        return name
    build(create_database(name))
    with _admin() as admin:
        admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{time.time():.0f}'")
    return name


def fresh_pg(name: str, milestones: int, outbox: int, *, log: Any = print) -> str:
    """Database ``name`` as a copy of the seeded template; returns its URL."""
    return create_database(name, template=pg_template(milestones, outbox, log=log))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__)
    parser.add_argument("--url", required=True, help="sqlite:///PATH or postgresql+psycopg://…")
    parser.add_argument("--milestones", type=int, default=100_000)
    parser.add_argument("--outbox", type=int, default=100_000)
    args = parser.parse_args()
    done = seed(args.url, milestones=args.milestones, outbox=args.outbox)
    print(f"seeded in {done.seconds:.1f} s: {counts(args.url)}")


if __name__ == "__main__":
    main()
