"""Four independent iCalendar parsers for calendars with many VEVENTs (the calendar feeds).

Each returns ``{uid: {"dtstart_utc", "dtend_utc", "sequence", "status", "summary"}}``:

* icalendar (the library fbh writes with) and vobject (dateutil's VTIMEZONE reading), in
  process;
* ical.js (Thunderbird) via node: ``tests/js/parse_ics.mjs --all``;
* libical (Evolution, many servers) via ``/usr/bin/python3``:
  ``tests/integration/libical_parse.py --all``, which also reports libical's parse errors and
  iTIP restriction check.

Every parser resolves TZIDs only through the VTIMEZONE inside the calendar. A parser whose
tool is missing skips the test, or fails it when ``CI=true``
(tests/integration/test_invite_parsers.py checks single invites the same way).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import vobject
from icalendar import Calendar

TESTS = Path(__file__).resolve().parent
JS_DIR = TESTS / "js"
LIBICAL_HELPER = TESTS / "integration" / "libical_parse.py"
SYSTEM_PYTHON = "/usr/bin/python3"
NAMES = ("icalendar", "vobject", "icaljs", "libical")

Events = dict[str, dict[str, Any]]
Parser = Callable[[bytes], Events]


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


def utc_text(value: str | datetime | None) -> str | None:
    """One spelling per instant (ical.js prints milliseconds, the others do not)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(UTC).isoformat()


def _event(dtstart: Any, dtend: Any, sequence: Any, status: Any, summary: Any) -> dict[str, Any]:
    return {
        "dtstart_utc": utc_text(dtstart),
        "dtend_utc": utc_text(dtend),
        "sequence": int(sequence),
        "status": None if status is None else str(status),
        "summary": None if summary is None else str(summary),
    }


def parse_icalendar(ics: bytes) -> Events:
    calendar = Calendar.from_ical(ics)
    return {
        str(e["UID"]): _event(
            e["DTSTART"].dt, e["DTEND"].dt, e["SEQUENCE"], e.get("STATUS"), e.get("SUMMARY")
        )
        for e in calendar.walk("VEVENT")
    }


def parse_vobject(ics: bytes) -> Events:
    """vobject caches VTIMEZONEs by TZID process-wide, so times are re-resolved with the
    tzinfo built from this calendar's own VTIMEZONE."""
    calendar = vobject.readOne(ics.decode("utf-8"))
    zones = {tz.tzid.value: tz.gettzinfo() for tz in calendar.contents.get("vtimezone", [])}

    def instant(prop: Any) -> datetime:
        value: datetime = prop.value
        tzid = prop.params.get("X-VOBJ-ORIGINAL-TZID", prop.params.get("TZID", [None]))[0]
        return value.replace(tzinfo=zones[tzid]) if tzid is not None else value

    def text(event: Any, name: str) -> Any:
        return event.contents[name][0].value if name in event.contents else None

    return {
        event.uid.value: _event(
            instant(event.dtstart),
            instant(event.dtend),
            event.sequence.value,
            text(event, "status"),
            text(event, "summary"),
        )
        for event in calendar.contents.get("vevent", [])
    }


def run_tool(command: list[str], ics: bytes, cwd: Path | None = None) -> dict[str, Any]:
    done = subprocess.run(command, input=ics, capture_output=True, timeout=60, cwd=cwd)
    if done.returncode != 0:
        raise AssertionError(f"{command[0]} failed: {done.stderr.decode(errors='replace')}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _events(result: dict[str, Any]) -> Events:
    return {
        e["uid"]: _event(e["dtstart_utc"], e["dtend_utc"], e["sequence"], e["status"], e["summary"])
        for e in result["events"]
    }


def icaljs_command() -> tuple[list[str], Path]:
    """The command and folder that run ical.js on standard input (npm installs it once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        skip_or_fail("node and npm are needed for the ical.js parser")
    assert node is not None and npm is not None
    if not (JS_DIR / "node_modules" / "ical.js" / "package.json").exists():
        subprocess.run(
            [npm, "ci", "--prefix", str(JS_DIR), "--no-audit", "--no-fund"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return [node, str(JS_DIR / "parse_ics.mjs")], JS_DIR


def libical_command() -> list[str]:
    """The command that runs libical (through the system Python's GObject bindings)."""
    probe = "import gi; gi.require_version('ICalGLib', '3.0'); from gi.repository import ICalGLib"
    if not Path(SYSTEM_PYTHON).exists():
        skip_or_fail(f"{SYSTEM_PYTHON} is needed for libical (python3-gi, gir1.2-ical-3.0)")
    found = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=60)
    if found.returncode != 0:
        skip_or_fail("libical GObject bindings missing: apt-get install -y gir1.2-ical-3.0")
    return [SYSTEM_PYTHON, str(LIBICAL_HELPER)]


def icaljs_parser() -> Parser:
    command, cwd = icaljs_command()
    return lambda ics: _events(run_tool([*command, "--all"], ics, cwd=cwd))


def libical_parser() -> Parser:
    command = libical_command()

    def parse(ics: bytes) -> Events:
        result = run_tool([*command, "--all"], ics)
        assert result["parse_errors"] == 0
        assert result["itip_errors"] == []  # RFC 5546's table for METHOD:PUBLISH
        return _events(result)

    return parse


def parser(name: str) -> Parser:
    if name == "icalendar":
        return parse_icalendar
    if name == "vobject":
        return parse_vobject
    return icaljs_parser() if name == "icaljs" else libical_parser()
