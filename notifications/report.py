"""What one delivery run of the outbox worker did (:class:`SendReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SendReport"]


@dataclass
class SendReport:
    """What one delivery run did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    lost_claims: int = 0
    untried: int = 0  # given back unsent: the connection was lost before their turn
    errors: list[str] = field(default_factory=list)
    unreachable: str | None = None  # why the mail server could not be reached, if it could not
    auth_failed: str | None = None  # the server rejected fbh's login: nothing can be sent
    paused: bool = False  # not tried at all: sending is paused after an authentication failure

    def add(self, other: SendReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.lost_claims += other.lost_claims
        self.untried += other.untried
        self.errors += other.errors
        self.unreachable = self.unreachable or other.unreachable
        self.auth_failed = self.auth_failed or other.auth_failed
        self.paused = self.paused or other.paused

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.failed + self.lost_claims + self.untried

    @property
    def stalled(self) -> bool:
        """Nothing got through and nothing is left to try now: the transport is down."""
        return bool(self.retried) and not self.sent and not self.untried
