"""Fast many-row INSERTs on SQLite: one driver-level executemany per statement.

SQLAlchemy's own executemany builds and type-processes a parameter dict per row, which costs
more than SQLite's insert itself when a batch writes hundreds of thousands of rows. A
:class:`BulkInsert` compiles its statement once with the dialect, then turns each row into
driver parameters with the columns' own bind processors (the stored values are exactly
those an ORM flush writes), memoising the datetime and date conversions, which repeat a lot
(``now`` is in every row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Date, DateTime, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator, TypeEngine

Encoder = Callable[[Any], Any]
ColumnEncoder = Callable[[Sequence[Any]], Iterable[Any]]  # a column's values → stored values
_DUMPS = orjson.dumps
_OPTIONS = orjson.OPT_NON_STR_KEYS  # as json.dumps: a key 7 is stored as "7"


def _json_text(value: Any) -> str:
    """The JSON text of ``value``: what json.dumps gives back when read (compact and UTF-8
    rather than ASCII escapes), by orjson, about eight times faster than the stdlib encoder."""
    return _DUMPS(value, option=_OPTIONS).decode()


@dataclass(frozen=True)
class BulkInsert:
    """An INSERT compiled once for ``columns``, run as one executemany per batch of rows."""

    sql: str
    names: tuple[str, ...]
    positional: bool
    encoders: tuple[ColumnEncoder | None, ...]

    @classmethod
    def compile(
        cls, statement: Insert, table: Table, columns: Sequence[str], dialect: Dialect
    ) -> BulkInsert:
        compiled = statement.compile(
            dialect=dialect, column_keys=list(columns), for_executemany=True
        )
        positiontup = compiled.positiontup or []
        names = tuple(positiontup if compiled.positional else compiled.binds)
        unset = sorted(set(names) - set(columns))
        if unset:  # a Python-side default the driver would never see
            raise ValueError(f"bulk insert into {table.name}: give {', '.join(unset)} explicitly")
        encoders = tuple(_encoder(table.c[name].type, dialect) for name in names)
        return cls(compiled.string, names, compiled.positional, encoders)

    def parameters(self, rows: Sequence[dict[str, Any]]) -> list[Any]:
        """The rows as driver parameters: tuples (qmark, format) or dicts (pyformat).

        The values are picked by an ``itemgetter`` per row and transposed with ``zip``, then
        encoded column by column (one ``map`` per column): the loops run in C."""
        if not rows:
            return []
        names = self.names
        picked = list(map(itemgetter(*names), rows))
        if len(names) == 1:
            picked = [(value,) for value in picked]
        columns: list[Any] = list(zip(*picked, strict=True))
        for index, encode in enumerate(self.encoders):
            if encode is not None:
                columns[index] = encode(columns[index])
        if self.positional:
            return list(zip(*columns, strict=True))
        return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _encoder(column_type: TypeEngine[Any], dialect: Dialect) -> ColumnEncoder | None:
    if isinstance(column_type, JSON):
        # Bound as text: SQLite stores JSON as text, and PostgreSQL casts it (``::JSON``).
        # None becomes JSON null, as the JSON type does (``none_as_null=False``).
        return partial(map, _json_text)
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return None
    if isinstance(column_type, Date) or _is_utc_datetime(column_type):
        return _by_value(process)
    return partial(map, process)


def _by_value(process: Encoder) -> ColumnEncoder:
    """A column of dates or instants, converted once per distinct value: the few new values
    of a batch are converted, then every value is looked up in C (``map`` of a dict's
    ``__getitem__``). A batch with a value whose ``fold`` matters (the doubled or skipped
    hour of a zone, see :func:`_memoised`) is converted value by value instead."""
    known: dict[Any, Any] = {}  # only values whose fold does not change what is stored
    one_by_one = _memoised(process)

    def encode(values: Sequence[Any]) -> Iterable[Any]:
        for value in set(values).difference(known):
            if _fold_matters(value):
                return map(one_by_one, values)
            known[value] = process(value)
        return map(known.__getitem__, values)

    return encode


def _fold_matters(value: Any) -> bool:
    """Whether ``value`` has a twin that compares and hashes equal yet is another instant:
    an aware datetime in a zone's doubled or skipped hour (or any with ``fold=1``)."""
    if not isinstance(value, datetime):
        return False  # None, or a date
    if value.fold or value.tzinfo is None:
        return bool(value.fold)
    return value.utcoffset() != value.replace(fold=1).utcoffset()


def _is_utc_datetime(column_type: TypeEngine[Any]) -> bool:
    """A decorated timezone-aware DateTime (engine.store.types.UTCDateTime), which stores
    every instant as UTC: equal instants are stored alike."""
    impl = getattr(column_type, "impl", None)
    return isinstance(column_type, TypeDecorator) and isinstance(impl, DateTime) and impl.timezone


def _memoised(process: Encoder) -> Encoder:
    """Equal dates, and equal instants, are stored alike (UTCDateTime stores UTC), so the
    conversion can be remembered by value. Keyed with ``fold`` too: two aware datetimes of
    one zone that differ only in ``fold`` compare and hash equal, yet are an hour apart (02:30
    CEST and 02:30 CET on the last Sunday of October)."""
    plain: dict[Any, Any] = {}
    folded: dict[Any, Any] = {}  # fold=1: the second 02:30 of an October night

    def encoder(value: Any) -> Any:
        done = folded if getattr(value, "fold", 0) else plain
        try:
            return done[value]
        except KeyError:
            done[value] = converted = process(value)
            return converted

    return encoder
