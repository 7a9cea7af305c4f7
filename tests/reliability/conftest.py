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

from collections.abc import Iterator

import pytest
from faults import Daemons, SmtpSwitch
from tally_report import _TOTALS, COUNTERS, Counts


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
