"""The ``fbh`` entry point: the command line run, and errors mapped to exit codes.

Exit codes: 0 success; 2 user error (one ``error: …`` line on stderr, no traceback); 3 a
database or mail server that cannot be reached (``UnavailableError``, one ``error:`` line);
1 unexpected failure. With ``--json`` exactly one JSON document goes to stdout.

Each group lives in its own module and imports only :mod:`engine.cli.common` (and the shared
text output in :mod:`engine.cli.formatting`); :mod:`engine.cli.commands` lists them and
:mod:`engine.cli.group` imports one only when it runs. ``fbh [--config PATH] [-v…] serve``
runs without typer (:mod:`engine.cli.daemon`).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from engine.cli.commands import COMMANDS as COMMANDS
from engine.cli.daemon import serve_options
from engine.cli.root import fail
from engine.domain.errors import FbhError
from engine.domain.i18n import _

log = logging.getLogger(__name__)


def build_command() -> Any:
    """The root click command of the Typer app (engine/cli/group.py)."""
    from engine.cli.group import build_command

    return build_command()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI and map errors to exit codes.

    The cyclic garbage collector is off while the command is parsed and its modules are
    imported: imports allocate much and free little, so its passes find next to nothing, at a
    cost measurable in ``fbh serve``'s start-up (docs/benchmarks.md, "Start-up"). It is on
    again when the command runs (``serve``: once ready)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        _main(argv)
    finally:
        if collecting:
            gc.enable()


def _main(argv: Sequence[str] | None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        serving = serve_options(args, os.environ)
        if serving is None:
            from engine.cli.group import run

            run(args)
        else:
            _serve(*serving)
    except FbhError as exc:
        log.debug("fbh error", exc_info=True)
        fail(str(exc), exc.exit_code)
    except OSError as exc:
        if exc.filename is None:  # not about a file the user named: unexpected
            raise_unexpected(exc)
        log.debug("file error", exc_info=True)
        fail(f"{shown(str(exc.filename))}: {exc.strerror or exc}", 2)
    except KeyboardInterrupt:
        fail(_("interrupted"), 130)
    except Exception as exc:
        raise_unexpected(exc)


def _serve(config: str | None, verbose: int) -> None:
    """``fbh serve`` as the Typer app would run it (its root callback, then the command),
    without importing typer: a tenth of the daemon's start-up."""
    from engine.cli.daemon import run_serve
    from engine.cli.root import State, configure_logging, install_gettext

    try:
        install_gettext()
        configure_logging(verbose)
        run_serve(State(config), verbose)
    except KeyboardInterrupt:  # as typer's main: a plain exit 130
        sys.exit(130)
    except EOFError:  # as typer's main: an empty line, then click's Abort
        fail(_("aborted"), 130, blank_line=True)
    sys.exit(0)


def raise_unexpected(exc: BaseException) -> None:
    """Exit 1: a bug. The message is redacted; ``FBH_DEBUG=1`` adds the traceback."""
    if os.environ.get("FBH_DEBUG"):
        traceback.print_exc()
    fail(f"unexpected {type(exc).__name__}: {exc} (set FBH_DEBUG=1 for the traceback)", 1)


def shown(value: str) -> str:
    """A value as a one-line error quotes it: its repr, cut short."""
    return repr(value) if len(value) <= 80 else repr(value[:77]) + "…"
