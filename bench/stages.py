"""The daemon's CPU per stage of the send path, from a py-spy profile of ``bench.delivery``.

``python -m bench.delivery --runs 1 --pyspy FILE`` samples the daemon (``py-spy record
--format raw``: one line per distinct stack, ``frame;frame;… count``);
``python -m bench.stages FILE`` sorts the samples into the stages of the send path and prints
each stage's share. Idle samples are left out: the event loop waiting in ``epoll`` and the
executor threads waiting for work. A sample counts for the first stage (in the order below)
with a frame in its stack.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("render at send", ("render_envelope",)),
    ("claim (SQL, rows)", ("claim_due",)),
    ("record outcomes (SQL)", ("_record (", "_write (")),
    ("catch-up, next wake-up", ("catch_up (", "_arm_delivery")),
    ("SMTP (aiosmtplib, transport)", ("aiosmtplib", "transports/smtp.py")),
    ("stored bytes → envelope", ("envelope_of",)),
    ("render ahead (thread)", ("render_batch", "render_pass", "prerender")),
    ("other daemon loops", ("presence.py", "watch", "leader", "timer.py", "apscheduler", "inbox")),
    ("commits, event loop, sockets", ("asyncio", "do_commit")),
]


def stage(stack: str) -> str:
    for name, frames in STAGES:
        if any(frame in stack for frame in frames):
            return name
    return "other"


def idle(stack: str) -> bool:
    leaf = stack.rsplit(";", 1)[-1]
    return "EpollSelector.select" in leaf or "_worker (concurrent/futures/thread.py" in leaf


def shares(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if stack and not idle(stack):
            counts[stage(stack)] += int(number)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("profile", type=Path, help="py-spy raw output of the daemon")
    counts = shares(parser.parse_args().profile)
    total = sum(counts.values()) or 1
    for name, count in counts.most_common():
        print(f"{name:32} {count:6d} samples {100 * count / total:5.1f} %")
    print(f"{'total':32} {total:6d} samples")


if __name__ == "__main__":
    main()
