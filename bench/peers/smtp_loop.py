"""The plain aiosmtplib loop: the lower bound for fbh's SMTP delivery (issue 15 §2).

The same messages fbh sent in the run (their wire bytes, rendered by
``notifications.outbox.render_envelope`` from the same outbox rows beforehand, so nothing is
rendered while it sends), over the same number of connections (fbh's
``mail.smtp.connections``), to the same sink (``bench.smtp_sink``, a fresh one). Each
connection is an ``aiosmtplib.SMTP`` client taking the next message from a shared queue and
sending it with ``sendmail``; nothing else: no database, no claim, no outcome recorded. Its
throughput against fbh's is what fbh's own work per message costs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiosmtplib


@dataclass(frozen=True)
class Message:
    sender: str
    recipients: tuple[str, ...]
    data: bytes


async def _send_all(host: str, port: int, messages: Sequence[Message], connections: int) -> float:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, use_tls=False)
        await client.connect()
        try:
            while True:
                try:
                    message = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await client.sendmail(message.sender, list(message.recipients), message.data)
        finally:
            await client.quit()

    began = time.time()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return began


def send_all(host: str, port: int, messages: Sequence[Message], connections: int) -> float:
    """Send every message over ``connections`` connections; returns when sending began
    (wall clock, to compare with the sink's arrival times)."""
    return asyncio.run(_send_all(host, port, messages, connections))
