"""The ``null`` transport (``[mail] transport = "null"``): every message is recorded as sent
and delivered nowhere, like Django's dummy e-mail backend.

For staging and dry runs: a copy of production's database can run its schedule without
anyone receiving mail. The messages are still claimed, rendered and recorded ``sent``; each
batch is logged (INFO, with the Message-IDs) so a dry run shows what would have gone out.
It warns when it is made, so ``fbh serve`` (and ``fbh outbox send``) say at start that mail
goes nowhere. ``bench.lateness --work none`` runs fbh with it: its whole pipeline without
the write, the analogue of the peers doing nothing per job.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from notifications.transports.base import DeliveryResult, Envelope, Transport

__all__ = ["NullTransport"]

log = logging.getLogger(__name__)


class NullTransport(Transport):
    """Reports every envelope delivered without delivering it."""

    def __init__(self) -> None:
        log.warning(
            'mail.transport = "null": messages are recorded as sent and delivered nowhere '
            "(for staging and dry runs only)"
        )

    async def send_batch(self, envelopes: Sequence[Envelope]) -> list[DeliveryResult]:
        if envelopes:
            log.info(
                'transport "null": %d message(s) recorded as sent, delivered nowhere: %s',
                len(envelopes),
                " ".join(envelope.message_id for envelope in envelopes),
            )
        return [DeliveryResult(envelope.message_id) for envelope in envelopes]
