"""`fbh serve` with the defaults (no `[http] listen`, a Maildir inbox) reaches `ready` without
importing what only an option or a later job needs: the HTTP stack, IMAP, iCalendar parsing,
bounce parsing, the holiday tables, the digests, Jinja (the first rendering comes after
`ready`), aiosmtplib (only the SMTP transport uses it), the services that create or
change programmes, requests, courses and participants (engine/services/facade.py) and typer
(`fbh serve` runs without it: engine/cli/daemon.py) (docs/benchmarks.md, "Start-up"). Its
statements before `ready` (the heartbeat, the orphans released) are Core ones: no ORM mapper
is configured yet.

It also checks that the cyclic garbage collector, off while fbh starts, runs again once the
daemon is ready (engine/cli/main.py, engine/cli/daemon.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from served import write_daemon_config

# At the `ready` log line: print the unwanted modules already imported, then stop as SIGTERM
# would (the daemon must still stop cleanly, exit 0). On the code before this test, the list
# began with aiohttp.
PROBE = """
import gc, logging, os, signal, sys
from engine.cli.main import main

UNWANTED = (
    "aiohttp", "prometheus_client", "engine.daemon.http", "imapclient", "icalendar",
    "flufl", "holidays", "engine.services.digests", "engine.services.inbox",
    "jinja2", "engine.domain.digest", "aiosmtplib", "engine.services.programmes",
    "engine.services.requests", "engine.services.participants", "engine.services.courses",
    "engine.services.lifecycle", "engine.services.handover", "engine.services.milestones",
    "typer", "click",
)

class AtReady(logging.Handler):
    def emit(self, record):
        if " ready: " in record.getMessage():
            found = sorted(m for m in sys.modules if any(
                m == u or m.startswith(u + ".") for u in UNWANTED))
            print("imported at ready:", found[:5], flush=True)
            print("collecting at ready:", gc.isenabled(), flush=True)
            from sqlalchemy import inspect
            from engine.store.tables import Daemon
            print("mappers configured at ready:", inspect(Daemon).configured, flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
        elif record.getMessage() == "stopped":
            print("collecting when stopped:", gc.isenabled(), flush=True)

logging.getLogger().addHandler(AtReady())
try:
    main(sys.argv[1:])
except SystemExit as done:
    assert not done.code, done.code
"""


def test_serve_reaches_ready_without_the_optional_stacks(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path, "sqlite:///var/fbh.sqlite3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--config", str(config), "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-4:] == [
        "imported at ready: []",
        "collecting at ready: False",
        "mappers configured at ready: False",
        "collecting when stopped: True",
    ], done.stdout
