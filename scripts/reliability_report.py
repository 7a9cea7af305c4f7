"""Write the counts table of docs/reliability.md from the reliability suite's own tally.

The suite (``tests/reliability``, tally in ``tests/tally_report.py``) writes its totals per
area to ``var/reliability.json`` at the end of a run. ``python scripts/reliability_report.py``
replaces the text between the ``counts`` markers in docs/reliability.md with the table and
the run it came from, as ``python -m bench.report`` does for the benchmarks; nothing is typed
in by hand. ``--check`` changes nothing and exits 1 when the document differs from the JSON.

    CI=true .venv/bin/pytest -q tests/reliability -n 2 --dist loadfile
    .venv/bin/python scripts/reliability_report.py [--from var/reliability.json] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
TALLY = ROOT / "var" / "reliability.json"
START, END = "<!-- counts:start -->", "<!-- counts:end -->"
COLUMNS = ("tests", "inputs", "faults", "sent", "lost", "tracebacks")


def table(tally: dict[str, Any]) -> list[str]:
    """The counts table (and a line naming the run) of a tally document."""
    run = tally.get("run", {})
    where = "`CI=true`" if run.get("ci") else "without `CI=true`"
    lines = [
        f"From `{' '.join(['pytest', *run.get('args', [])]) or 'pytest'}` on "
        f"{run.get('date', 'an unrecorded date')} ({where}, {run.get('cores', '?')} cores, "
        f"Python {run.get('python', '?')}), written by `scripts/reliability_report.py` from "
        "`var/reliability.json`:",
        "",
        "| area | tests | inputs tried | faults survived | messages sent | lost | tracebacks |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for area, counts in sorted(tally["areas"].items()):
        lines.append(f"| {area} | " + " | ".join(str(counts[c]) for c in COLUMNS) + " |")
    total = tally["total"]
    lines.append("| **total** | " + " | ".join(str(total[c]) for c in COLUMNS) + " |")
    return lines


def rewrite(document: str, tally: dict[str, Any]) -> str:
    if START not in document or END not in document:
        raise SystemExit(f"the {START} … {END} markers are missing")
    head, rest = document.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + "\n".join([START, *table(tally), END]) + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, default=TALLY)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--check", action="store_true", help="exit 1 if the doc is stale")
    args = parser.parse_args(argv)
    if not args.source.exists():
        raise SystemExit(f"{args.source} is missing: run the reliability suite first")
    tally = json.loads(args.source.read_text("utf-8"))
    if not tally.get("areas"):
        raise SystemExit(f"{args.source} has no areas: the run had no reliability tests")
    before = args.doc.read_text("utf-8")
    after = rewrite(before, tally)
    if args.check:
        if after != before:
            sys.stderr.write(f"{args.doc}: the counts differ from {args.source}\n")
            return 1
        return 0
    args.doc.write_text(after, "utf-8")
    sys.stdout.write(f"wrote {len(tally['areas'])} areas into {args.doc}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
