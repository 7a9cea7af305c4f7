"""A local SMTP sink for benchmarks: aiosmtpd on 127.0.0.1, in its own process.

``python -m bench.smtp_sink --out FILE`` listens on a free port, prints ``ready PORT`` on
stdout, and appends one line ``<arrival unix time>\\t<Message-ID>`` to ``FILE`` for every
message it accepts (flushed at once, so another process can count them while it runs). The
arrival time is taken when DATA completes, before the reply, with the wall clock
(``time.time()``) so it compares with due times written by another process. It accepts
every sender and recipient and stops on SIGTERM or SIGINT.

:class:`SinkProcess` starts and stops it from a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


def message_id(data: bytes) -> str:
    """The Message-ID header of a raw message (searched in the header block only)."""
    head = data.split(b"\r\n\r\n", 1)[0]
    found = _MESSAGE_ID.search(head)
    return found.group(1).decode("ascii", "replace") if found else "<missing>"


class Recorder:
    """The aiosmtpd handler: one line per accepted message."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        arrived = time.time()
        data = envelope.original_content or b""
        self.out.write(f"{arrived:.6f}\t{message_id(data)}\n")
        self.out.flush()
        return "250 2.0.0 Ok: queued"


async def serve(out_path: Path) -> None:
    loop = asyncio.get_running_loop()
    with out_path.open("a", encoding="ascii") as out:
        recorder = Recorder(out)
        server = await loop.create_server(
            lambda: SMTP(recorder, hostname="sink.bench", data_size_limit=None), HOST, 0
        )
        port = server.sockets[0].getsockname()[1]
        stop = asyncio.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        print(f"ready {port}", flush=True)
        await stop.wait()
        server.close()


@dataclass
class SinkProcess:
    """``bench.smtp_sink`` running in a child process."""

    proc: subprocess.Popen[str]
    port: int
    out: Path

    @classmethod
    def start(cls, out: Path, *, cwd: Path) -> SinkProcess:
        out.write_text("", encoding="ascii")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.smtp_sink", "--out", str(out)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "ready":
            proc.kill()
            raise RuntimeError(f"SMTP sink did not start: {line!r}")
        return cls(proc, int(line[1]), out)

    def count(self) -> int:
        with self.out.open("rb") as handle:
            return sum(1 for _ in handle)

    def arrivals(self) -> list[tuple[float, str]]:
        found = []
        for line in self.out.read_text(encoding="ascii").splitlines():
            at, ident = line.split("\t")
            found.append((float(at), ident))
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> SinkProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_sink")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    asyncio.run(serve(args.out))


if __name__ == "__main__":
    main()
