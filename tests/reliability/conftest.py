"""Fault-injection suite: shared tally of what was tried, survived and lost.

Every test takes the ``tally`` fixture and records what it did:

* ``tally.inputs(n)``: bad or hostile inputs tried (fuzzed definitions, CLI arguments, names);
* ``tally.faults(n)``: faults injected and survived (a kill -9, an SMTP outage, a clock jump);
* ``tally.sent(n)`` / ``tally.lost(n)``: messages that had to arrive, and those that did not;
* ``tally.tracebacks(n)``: tracebacks seen where a one-line error was due.

The test itself asserts ``lost == 0`` and no tracebacks; the tally only reports. At the end of
the session the totals per area are printed and written to ``var/reliability.json`` (or
``$FBH_RELIABILITY_REPORT``); docs/reliability.md quotes them.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from faults import Daemons, SmtpSwitch

REPO = Path(__file__).resolve().parents[2]
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


class Tally:
    """What one test tried; ``area`` is the test module's name without ``test_``."""

    def __init__(self, area: str) -> None:
        self.area = area
        self.counts = Counts(tests=1)

    def inputs(self, n: int = 1) -> None:
        self.counts.inputs += n

    def faults(self, n: int = 1) -> None:
        self.counts.faults += n

    def sent(self, n: int = 1) -> None:
        self.counts.sent += n

    def lost(self, n: int = 1) -> None:
        self.counts.lost += n

    def tracebacks(self, n: int = 1) -> None:
        self.counts.tracebacks += n


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    area = request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    recorder = Tally(area)
    yield recorder
    total = _TOTALS[area]
    for name in (*COUNTERS, "tests"):
        setattr(total, name, getattr(total, name) + getattr(recorder.counts, name))


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
    path.write_text(json.dumps({"areas": document, "total": asdict(grand)}, indent=2) + "\n")


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    """Real ``fbh serve`` processes started by the test; all are stopped afterwards."""
    daemons = Daemons()
    yield daemons
    daemons.cleanup()


@pytest.fixture
def smtp() -> Iterator[SmtpSwitch]:
    """A real aiosmtpd server the test can switch off, silence and switch on again."""
    switch = SmtpSwitch()
    switch.up()
    yield switch
    switch.off()
