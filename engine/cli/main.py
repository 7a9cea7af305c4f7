"""The ``fbh`` entry point: the command groups put together, and errors mapped to exit codes.

Exit codes: 0 success; 2 user error (one ``error: …`` line on stderr, no traceback); 3 a
database or mail server that cannot be reached (``UnavailableError``, one ``error:`` line);
1 unexpected failure. With ``--json`` exactly one JSON document goes to stdout.

Each group lives in its own module and imports only :mod:`engine.cli.common` (and the shared
text output in :mod:`engine.cli.formatting`); this module registers them on ``app``, in the
order ``fbh --help`` lists them.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence

import typer

from engine.cli import (
    backup,
    demo,
    digest,
    feed,
    inbox,
    milestone,
    outbox,
    plan,
    programme,
    request,
    serve,
    time,
    workflows,
)
from engine.cli.common import app, fail
from engine.domain.errors import FbhError

log = logging.getLogger(__name__)

app.add_typer(workflows.workflows_app, name="workflows")
app.add_typer(programme.programme_app, name="programme")
app.add_typer(milestone.milestone_app, name="milestone")
app.add_typer(outbox.outbox_app, name="outbox")
app.add_typer(request.request_app, name="request")
app.command("plan")(plan.plan_command)
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("status")(serve.status)
app.add_typer(time.time_app, name="time")
app.add_typer(digest.digest_app, name="digest")
app.add_typer(inbox.inbox_app, name="inbox")
app.add_typer(feed.feed_app, name="feed")
app.command("backup")(backup.backup)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI and map errors to exit codes."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    for arg in args:  # bytes that are not UTF-8 arrive as lone surrogates; nothing can store them
        if any("\ud800" <= char <= "\udfff" for char in arg):
            fail(f"argument {arg!r} is not valid UTF-8 text", 2)
    try:
        result = command.main(args=args, prog_name="fbh", standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare group: show its help
            exc.show()  # type: ignore[attr-defined]
            sys.exit(2)
        fail(exc.format_message(), 2)
    except typer.Abort:
        fail("aborted", 130)
    except FbhError as exc:
        log.debug("fbh error", exc_info=True)
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("FBH_DEBUG"):
            traceback.print_exc()
        fail(f"unexpected {type(exc).__name__}: {exc} (set FBH_DEBUG=1 for the traceback)", 1)
