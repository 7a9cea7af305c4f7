"""scripts/reliability_report.py writes docs/reliability.md's counts from the tally JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import reliability_report

TALLY = {
    "run": {
        "date": "2026-12-07T08:00:00+00:00",
        "ci": True,
        "python": "3.11.7",
        "cores": 2,
        "args": ["tests/reliability"],
    },
    "areas": {
        "kill9": {"inputs": 0, "faults": 3, "sent": 126, "lost": 0, "tracebacks": 0, "tests": 1},
        "cli_fuzz": {
            "inputs": 331,
            "faults": 0,
            "sent": 4,
            "lost": 0,
            "tracebacks": 0,
            "tests": 22,
        },
    },
    "total": {"inputs": 331, "faults": 3, "sent": 130, "lost": 0, "tracebacks": 0, "tests": 23},
}


def test_the_table_is_written_between_the_markers_and_checked(tmp_path: Path) -> None:
    source, doc = tmp_path / "reliability.json", tmp_path / "reliability.md"
    source.write_text(json.dumps(TALLY))
    doc.write_text("# R\n\n<!-- counts:start -->\nold\n<!-- counts:end -->\n\nafter\n")
    args = ["--from", str(source), "--doc", str(doc)]

    assert reliability_report.main([*args, "--check"]) == 1  # stale
    assert reliability_report.main(args) == 0
    text = doc.read_text()
    assert "old" not in text and text.endswith("\n\nafter\n")
    assert "| cli_fuzz | 22 | 331 | 0 | 4 | 0 | 0 |\n| kill9 | 1 | 0 | 3 | 126 | 0 | 0 |" in text
    assert "| **total** | 23 | 331 | 3 | 130 | 0 | 0 |" in text
    assert "2026-12-07T08:00:00+00:00 (`CI=true`, 2 cores" in text
    assert reliability_report.main([*args, "--check"]) == 0


def test_a_missing_tally_or_markers_are_refused(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    doc.write_text("no markers\n")
    with pytest.raises(SystemExit, match="missing"):
        reliability_report.main(["--from", str(tmp_path / "none.json"), "--doc", str(doc)])
    source = tmp_path / "reliability.json"
    source.write_text(json.dumps(TALLY))
    with pytest.raises(SystemExit, match="markers"):
        reliability_report.main(["--from", str(source), "--doc", str(doc)])
