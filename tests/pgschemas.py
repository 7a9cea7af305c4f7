"""Migrated PostgreSQL schemas for ``backend_url``, reused within one test process.

Creating a schema, migrating it and dropping it afterwards takes most of a second per test
(the server's DDL, its catalog work and syncs); emptying the tables of a schema takes a few
hundredths. So a test that is done with its schema gives it back: every table is
emptied, the rows the migrations wrote (``alembic_version``, the installation and page-secret
rows) and every sequence's position are put back as they were right after the migration, and
the next test gets it with an installation id of its own (as ``copy_of_template`` does for
SQLite). A schema whose tables, indexes, sequences or functions a test changed (a downgrade,
a table of its own) is dropped instead, as is one that cannot be emptied.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from secrets import token_hex
from typing import Any

import psycopg
from psycopg import sql

from engine.store.store import Store

# What a schema holds, by name: a test that changed any of it leaves a schema not reused.
SHAPE = """
SELECT 'class', c.relname || ':' || c.relkind::text || ':' || c.relnatts::text
  FROM pg_class c WHERE c.relnamespace = %(schema)s::regnamespace
UNION ALL
SELECT 'proc', p.proname FROM pg_proc p WHERE p.pronamespace = %(schema)s::regnamespace
UNION ALL
SELECT 'type', t.typname FROM pg_type t WHERE t.typnamespace = %(schema)s::regnamespace
ORDER BY 1, 2
"""


@dataclass
class Migrated:
    """A schema at the newest revision and what the migrations left in it."""

    name: str
    shape: list[tuple[Any, ...]]
    rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]]  # table: (columns, rows)
    sequences: dict[str, tuple[int, bool]]  # sequence: (last_value, is_called)

    def url(self, admin: str) -> str:
        host_part = admin.split("://", 1)[1]
        return f"postgresql+psycopg://{host_part}?options=-csearch_path%3D{self.name}"


class SchemaPool:
    """The migrated schemas of this test process: ``take`` one, ``give`` it back."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.free: list[Migrated] = []
        self.made: list[str] = []
        self._connection: psycopg.Connection[Any] | None = None

    def connection(self) -> psycopg.Connection[Any]:
        """The pool's own connection, kept open (a new one after a lost one)."""
        if self._connection is None or self._connection.broken or self._connection.closed:
            self._connection = psycopg.connect(self.admin, autocommit=True)
        return self._connection

    def take(self) -> Migrated:
        if not self.free:
            return self._migrated()
        schema = self.free.pop()
        self.connection().execute(
            sql.SQL("UPDATE {}.installation SET installation_id = %s").format(
                sql.Identifier(schema.name)
            ),
            (token_hex(8),),
        )
        return schema

    def give(self, schema: Migrated) -> None:
        try:
            connection = self.connection()
            if _shape(connection, schema.name) != schema.shape:
                self._drop(connection, schema.name)
                return
            with connection.transaction():
                _reset(connection, schema)
        except psycopg.Error:
            self._drop(self.connection(), schema.name)
            return
        self.free.append(schema)

    def close(self) -> None:
        connection = self.connection()
        for name in list(self.made):
            self._drop(connection, name)
        connection.close()
        self.free.clear()

    def _migrated(self) -> Migrated:
        name = f"t_{uuid.uuid4().hex[:12]}"
        connection = self.connection()
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        self.made.append(name)
        schema = Migrated(name, [], {}, {})
        Store.open(schema.url(self.admin)).dispose()
        schema.shape = _shape(connection, name)
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (name,)
        ).fetchall()
        for (table,) in tables:
            cursor = connection.execute(
                sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(name), sql.Identifier(table))
            )
            columns = [column.name for column in cursor.description or ()]
            schema.rows[table] = (columns, cursor.fetchall())
        sequences = connection.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = %s", (name,)
        ).fetchall()
        for (sequence,) in sequences:
            last_value, is_called = connection.execute(
                sql.SQL("SELECT last_value, is_called FROM {}.{}").format(
                    sql.Identifier(name), sql.Identifier(sequence)
                )
            ).fetchone() or (1, False)
            schema.sequences[sequence] = (last_value, is_called)
        return schema

    def _drop(self, connection: psycopg.Connection[Any], name: str) -> None:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        if name in self.made:
            self.made.remove(name)


def _shape(connection: psycopg.Connection[Any], name: str) -> list[tuple[Any, ...]]:
    return connection.execute(SHAPE, {"schema": name}).fetchall()


def _reset(connection: psycopg.Connection[Any], schema: Migrated) -> None:
    """Every table as the migrations left it (foreign keys are not checked meanwhile)."""
    connection.execute("SET LOCAL session_replication_role = replica")
    connection.execute("SET LOCAL lock_timeout = '10s'")
    for table, (columns, rows) in schema.rows.items():
        target = sql.SQL("{}.{}").format(sql.Identifier(schema.name), sql.Identifier(table))
        connection.execute(sql.SQL("DELETE FROM {}").format(target))
        if rows:
            insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                target,
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            )
            with connection.cursor() as cursor:
                cursor.executemany(insert, rows)
    for sequence, (last_value, is_called) in schema.sequences.items():
        connection.execute(
            "SELECT setval(%s::regclass, %s, %s)",
            (f'"{schema.name}"."{sequence}"', last_value, is_called),
        )
