"""The driver parameters of a bulk insert (engine/backends/bulk.py) are, row by row, what
each column's own bind processor gives: the C-level picking and the memoised date and
instant conversions change nothing, the two 02:30 of an October night included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import JSON, Column, Date, Integer, MetaData, String, Table, insert
from sqlalchemy.dialects import sqlite

from engine.backends.bulk import BulkInsert, _json_text
from engine.store.types import UTCDateTime

CPH = ZoneInfo("Europe/Copenhagen")
TABLE = Table(
    "t",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String(20)),
    Column("payload", JSON),
    Column("day", Date),
    Column("at", UTCDateTime()),
)
DIALECT = sqlite.dialect()

# instants around the night clocks go back (2026-10-25, 02:00–03:00 twice in Copenhagen)
instants = (
    st.builds(
        lambda minutes, fold: (
            datetime(2026, 10, 25, 1, 0, tzinfo=CPH) + timedelta(minutes=minutes)
        ).replace(fold=fold),
        st.integers(0, 180),
        st.integers(0, 1),
    )
    | st.builds(  # and the night they go forward (2026-03-29, 02:00–03:00 never happens)
        lambda minutes, fold: datetime(2026, 3, 29, 1, minutes % 60, tzinfo=CPH).replace(
            hour=1 + minutes // 60, fold=fold
        ),
        st.integers(0, 179),
        st.integers(0, 1),
    )
    | st.datetimes(timezones=st.just(UTC))
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.integers(1, 10**6),
            "name": st.none() | st.text(max_size=5),
            "payload": st.none()
            | st.dictionaries(st.text(max_size=3), st.integers(-(2**63), 2**63 - 1), max_size=2),
            "day": st.none() | st.dates(date(2026, 1, 1), date(2026, 1, 5)),
            "at": st.none() | instants,
        }
    ),
    min_size=1,
    max_size=30,
)


def reference(row: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    values = []
    for name in names:
        column_type = TABLE.c[name].type
        if isinstance(column_type, JSON):
            values.append(_json_text(row[name]))
            continue
        process = column_type.dialect_impl(DIALECT).bind_processor(DIALECT)
        values.append(row[name] if process is None else process(row[name]))
    return tuple(values)


@given(rows)
def test_the_parameters_are_each_columns_own_conversion(batch: list[dict[str, Any]]) -> None:
    bulk = BulkInsert.compile(insert(TABLE), TABLE, list(batch[0]), DIALECT)
    assert bulk.positional
    assert bulk.parameters(batch) == [reference(row, bulk.names) for row in batch]


@given(rows, st.integers(0, 30))
def test_batches_after_the_first_are_converted_alike(
    batch: list[dict[str, Any]], split: int
) -> None:
    """The distinct dates and instants are remembered from batch to batch (one BulkInsert
    per call of insert_many, several slices)."""
    bulk = BulkInsert.compile(insert(TABLE), TABLE, list(batch[0]), DIALECT)
    parameters = bulk.parameters(batch[:split]) + bulk.parameters(batch[split:])
    assert parameters == [reference(row, bulk.names) for row in batch]


def test_the_two_half_past_twos_of_an_october_night_stay_an_hour_apart() -> None:
    first = datetime(2026, 10, 25, 2, 30, tzinfo=CPH)
    second = first.replace(fold=1)
    assert first == second  # equal and equally hashed in Python, yet an hour apart
    batch = [{"id": 1, "at": first}, {"id": 2, "at": second}, {"id": 3, "at": first}]
    bulk = BulkInsert.compile(insert(TABLE), TABLE, ["id", "at"], DIALECT)
    stored = [at for _id, at in bulk.parameters(batch)]
    assert stored == ["2026-10-25 00:30:00.000000", "2026-10-25 01:30:00.000000", stored[0]]


def test_one_column_and_no_rows() -> None:
    bulk = BulkInsert.compile(insert(TABLE), TABLE, ["name"], DIALECT)
    assert bulk.parameters([{"name": "a"}, {"name": None}]) == [("a",), (None,)]
    assert bulk.parameters([]) == []
