"""Tests only: run ``fbh`` commands as forked processes of a Python that has imported fbh once.

Every ``fbh`` process spends most of its CPU importing its stack (Typer, pydantic,
SQLAlchemy/SQLModel, the table models, the services) before the command starts; the
acceptance tests start hundreds. This server imports those modules once, then forks one child
per command. The child is a process of its own: the test's argv (``sys.argv``), environment,
working directory and standard streams (the client's file descriptors, passed over a Unix
socket), and ``engine.cli.main.main``, the function the installed ``fbh`` script calls; its
exit code is the child's own (``os._exit``). What a child cannot show is what the process did
before ``main`` (which modules a command imports; tests/acceptance/test_cli_lean_imports.py
runs real processes for that), so ``fbhcli.Cli`` can also run the installed binary
(``FBH_TEST_CLI=binary``), and tests/acceptance/test_cli_forked.py compares the two.

Protocol, one connection per command: the client sends a JSON request (argv, env, cwd) with
three file descriptors (stdin, stdout, stderr); the server forks and closes its copies; the
child answers its pid as one line, runs the command, and writes its exit code as a second line
before it exits. A child killed by a signal closes the socket without the second line. The
server waits for its children (so their CPU time counts as usual) and exits when its parent,
the test process, is gone.

``python forkserver.py SOCKET FBH_SCRIPT``: listen on the Unix socket SOCKET; FBH_SCRIPT is
the installed ``fbh`` script (``sys.argv[0]`` and ``sys.path[0]`` of a real run).
"""

from __future__ import annotations

import array
import atexit
import contextlib
import importlib
import json
import os
import signal
import socket
import sys
import traceback

MAX_FDS = 3
MAX_REQUEST = 16 * 1024 * 1024  # argv may carry 100 KB values (the input-limit tests)
PRELOAD = (
    "engine.cli.main",
    "engine.cli.group",
    "engine.services.facade",
    "engine.store.store",
    "engine.store.database",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "alembic.command",
    "jinja2",
)


def preload() -> None:
    """Import what the commands import (never run anything: no state a command could see)."""
    from engine.cli.main import COMMANDS

    for name in (*PRELOAD, *(module for module, _attr, _help in COMMANDS.values())):
        # an optional part (psycopg) that is missing: the child fails as a real run would
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def receive(conn: socket.socket) -> tuple[dict[str, object], list[int]]:
    fds = array.array("i")
    chunks: list[bytes] = []
    size = 0
    while True:
        data, ancdata, _flags, _addr = conn.recvmsg(
            1 << 20, socket.CMSG_SPACE(MAX_FDS * fds.itemsize)
        )
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        if not data:
            break
        chunks.append(data)
        size += len(data)
        if size > MAX_REQUEST:
            raise ValueError("request too large")
        if data.endswith(b"\n"):
            break
    return json.loads(b"".join(chunks)), list(fds)


def run_child(conn: socket.socket, request: dict[str, object], fds: list[int], script: str) -> None:
    """In the forked child: become the command's process, run ``main``, report, exit."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])  # type: ignore[arg-type]
        os.chdir(str(request["cwd"]))
        import time

        time.tzset()
        sys.argv = [script, *request["argv"]]  # type: ignore[misc]
        if "FBH_TEST_SHIFT_SECONDS" in os.environ:  # as tests/acceptance/fbh_shifted.py does
            from datetime import UTC, datetime, timedelta

            import time_machine

            shift = timedelta(seconds=float(os.environ["FBH_TEST_SHIFT_SECONDS"]))
            time_machine.travel(datetime.now(UTC) + shift, tick=True).start()
        from engine.domain import i18n

        i18n._chosen.clear()  # chosen on first use, from this process's argv and environment
        conn.sendall(f"{os.getpid()}\n".encode())
        from engine.cli.main import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:  # as the interpreter does: print the message, exit 1
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:  # as the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed pipe: nothing more to say
                stream.flush()
        with contextlib.suppress(OSError):
            conn.sendall(f"{code & 0xFF}\n".encode())
        os._exit(code & 0xFF)


def reap(block: bool = False) -> None:
    """Wait for finished children (so their CPU time counts as this process's children's)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(path: str, script: str) -> None:
    preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    listener.settimeout(1.0)
    parent = os.getppid()
    print("ready", flush=True)
    while os.getppid() == parent:
        try:
            conn, _addr = listener.accept()
        except TimeoutError:
            reap()
            continue
        conn.setblocking(True)
        try:
            request, fds = receive(conn)
        except (OSError, ValueError):
            conn.close()
            continue
        if request.get("stop"):
            conn.close()
            for fd in fds:
                os.close(fd)
            reap(block=True)
            return
        pid = os.fork()
        if pid == 0:
            listener.close()
            run_child(conn, request, fds, script)
        conn.close()
        for fd in fds:
            os.close(fd)
        reap()


if __name__ == "__main__":
    # sys.path[0] as for the script: not tests/acceptance (a real fbh does not see the helpers)
    sys.path[0] = os.path.dirname(sys.argv[2])
    serve(sys.argv[1], sys.argv[2])
