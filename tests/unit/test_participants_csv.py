"""The participant list as a Danish Excel writes it (engine/domain/participants_csv.py)."""

from __future__ import annotations

from engine.domain.participants_csv import HEADER, format_csv, parse_csv

EXCEL = (
    "\ufeffnavn;email;organisation;type;rolle\r\n"
    'Åse Ærø;ase@helsingor.dk;"KFUM; Helsingør";Kommune;leder\r\n'
    '"Bo ""Betjent"" Ø";bo@politi.dk;Politi;Politi;medarbejder\r\n'
).encode()


def test_a_danish_excel_file_round_trips_byte_for_byte() -> None:
    rows, problems = parse_csv(EXCEL)
    assert problems == []
    assert [(r.row, r.name, r.organisation) for r in rows] == [
        (2, "Åse Ærø", "KFUM; Helsingør"),
        (3, 'Bo "Betjent" Ø', "Politi"),
    ]
    again = format_csv((r.name, r.email, r.organisation, r.kind, r.role) for r in rows)
    assert again == EXCEL


def test_without_bom_empty_rows_and_trailing_semicolons_are_read() -> None:
    data = b"navn;email;organisation;type;rolle;;\r\n;;;;\r\nA;a@b.dk;O;T;leder;;\r\n"
    rows, problems = parse_csv(data)
    assert problems == [] and [(r.row, r.email) for r in rows] == [(3, "a@b.dk")]


def test_row_numbers_count_lines_of_quoted_line_breaks() -> None:
    data = 'navn;email;organisation;type;rolle\r\n"A\r\nB";a@b.dk;O;T;leder\r\nC;c@d.dk;O\r\n'
    rows, problems = parse_csv(data.encode())
    assert rows[0].row == 2
    assert [(p.row, str(p)) for p in problems] == [
        (4, "row 4: expected 5 columns separated by ';', found 3")
    ]


def test_what_cannot_be_read_is_named() -> None:
    assert str(parse_csv(b"")[1][0]) == "the file is empty"
    assert "must be " + ";".join(HEADER) in str(parse_csv(b"name;mail\r\n")[1][0])
    assert "not UTF-8 (byte 0xe6)" in str(parse_csv("navn;æ".encode("cp1252"))[1][0])
    assert str(parse_csv(";".join(HEADER).encode())[1][0]) == "the file has no participants"
