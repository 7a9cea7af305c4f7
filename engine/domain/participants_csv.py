"""The participant list as a Danish Excel writes and reads it: ``;``-separated, UTF-8 with a
byte-order mark, CRLF line ends, the header ``navn;email;organisation;type;rolle``.

Pure: bytes in, rows and problems out (and back). Row numbers are Excel's: the header is
row 1. What the values mean (kinds, roles) is checked by ``engine/services/participants.py``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.domain.i18n import _

HEADER = ("navn", "email", "organisation", "type", "rolle")
BOM = "\ufeff"
DELIMITER = ";"
ROLES_DA = {"employee": "medarbejder", "leader": "leder"}
MAX_BYTES = 5_000_000  # a list of participants, not a database dump


@dataclass(frozen=True)
class CsvRow:
    """One data row as written in the file."""

    row: int  # Excel's row number (the header is row 1)
    name: str
    email: str
    organisation: str
    kind: str
    role: str


@dataclass(frozen=True)
class CsvProblem:
    row: int  # 0: the file as a whole
    message: str

    def __str__(self) -> str:
        return (
            _("row {row}: {message}").format(row=self.row, message=self.message)
            if (self.row)
            else self.message
        )


def parse_csv(data: bytes) -> tuple[list[CsvRow], list[CsvProblem]]:
    """The rows of a participant list, or what is wrong with it (every bad row)."""
    if len(data) > MAX_BYTES:
        return [], [CsvProblem(0, _("the file is larger than 5 MB"))]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return [], [
            CsvProblem(
                line,
                _("not UTF-8 (byte 0x{byte:02x}); save it as 'CSV UTF-8' in Excel").format(
                    byte=data[exc.start]
                ),
            )
        ]
    text = text.removeprefix(BOM)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITER, strict=True)
    rows: list[CsvRow] = []
    problems: list[CsvProblem] = []
    try:
        header = next(reader, None)
        if header is None:
            return [], [CsvProblem(0, _("the file is empty"))]
        found = [h.strip().lower() for h in header]
        while found and not found[-1]:
            found.pop()
        if tuple(found) != HEADER:
            return [], [
                CsvProblem(
                    1,
                    _("the header must be {want}, found {found}").format(
                        want=DELIMITER.join(HEADER), found=DELIMITER.join(header)
                    ),
                )
            ]
        start = reader.line_num + 1
        for values in reader:
            number, start = start, reader.line_num + 1
            cells = [v.strip() for v in values]
            while len(cells) > len(HEADER) and not cells[-1]:
                cells.pop()
            if not any(cells):
                continue  # Excel writes ';;;;' for an empty row
            if len(cells) != len(HEADER):
                problems.append(
                    CsvProblem(
                        number,
                        _("expected {want} columns separated by ';', found {found}").format(
                            want=len(HEADER), found=len(cells)
                        ),
                    )
                )
                continue
            rows.append(CsvRow(number, *cells))
    except csv.Error as exc:
        problems.append(CsvProblem(reader.line_num, _("unreadable: {why}").format(why=exc)))
    if not rows and not problems:
        problems.append(CsvProblem(0, _("the file has no participants")))
    return rows, problems


def format_csv(rows: Iterable[Sequence[str]]) -> bytes:
    """The list as Excel writes it: BOM, ``;``, CRLF, quotes only where needed."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=DELIMITER, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return (BOM + out.getvalue()).encode("utf-8")
