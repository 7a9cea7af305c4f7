"""The reliability tally's totals and report (see tests/reliability/conftest.py).

The hooks are imported by tests/conftest.py so that they run in the process that prints the
summary: the only process without pytest-xdist, the controller with it (each worker hands
its counts over when it finishes). ``scripts/reliability_report.py`` writes the counts table of
docs/reliability.md from the JSON written here.
"""

from __future__ import annotations

import json
import os
import platform
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COUNTERS = ("inputs", "faults", "sent", "lost", "tracebacks")


@dataclass
class Counts:
    inputs: int = 0
    faults: int = 0
    sent: int = 0
    lost: int = 0
    tracebacks: int = 0
    tests: int = 0


_TOTALS: dict[str, Counts] = defaultdict(Counts)


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput["reliability_tally"] = json.dumps(
            {area: asdict(counts) for area, counts in _TOTALS.items()}
        )


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    tally = getattr(node, "workeroutput", {}).get("reliability_tally")
    for area, counts in json.loads(tally or "{}").items():
        total = _TOTALS[area]
        for name, value in counts.items():
            setattr(total, name, getattr(total, name) + value)


def report_path() -> Path:
    return Path(os.environ.get("FBH_RELIABILITY_REPORT", REPO / "var" / "reliability.json"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _TOTALS:
        return
    grand = Counts()
    lines = [
        "| area | tests | inputs tried | faults survived | messages sent | lost | tracebacks |"
    ]
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for area, counts in sorted(_TOTALS.items()):
        for name in (*COUNTERS, "tests"):
            setattr(grand, name, getattr(grand, name) + getattr(counts, name))
        lines.append(
            f"| {area} | {counts.tests} | {counts.inputs} | {counts.faults} | {counts.sent} "
            f"| {counts.lost} | {counts.tracebacks} |"
        )
    lines.append(
        f"| **total** | {grand.tests} | {grand.inputs} | {grand.faults} | {grand.sent} "
        f"| {grand.lost} | {grand.tracebacks} |"
    )
    terminalreporter.write_sep("-", "reliability tally")
    for line in lines:
        terminalreporter.write_line(line)
    path = report_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {area: asdict(counts) for area, counts in sorted(_TOTALS.items())}
    run = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "ci": os.environ.get("CI") == "true",
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "args": terminalreporter.config.invocation_params.args,
    }
    text = json.dumps({"run": run, "areas": document, "total": asdict(grand)}, indent=2)
    path.write_text(text + "\n")
