"""``tx.pages``: the hashed tokens of the tovholder's page (``/p/{token}``) and the
installation's CSRF key. A token is never stored, only its SHA-256 (``engine.services.pages``
hashes it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from engine.store.base import Repository, table_of
from engine.store.tables import PageSecret, PageToken


class PageTokens(Repository):
    """``tx.pages``."""

    def add(
        self, programme_id: int, person_id: int, token_hash: str, source: str, now: datetime
    ) -> None:
        self.session.add(
            PageToken(
                programme_id=programme_id,
                person_id=person_id,
                token_hash=token_hash,
                source=source,
                created_at=now,
            )
        )
        self.session.flush()

    def add_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Tokens of new programmes (the summary mail's), in one statement."""
        self.unit.insert_many(table_of(PageToken), rows)

    def revoke(self, programme_id: int, now: datetime) -> int:
        """Revoke every live token of the programme; returns how many."""
        statement = (
            update(PageToken)
            .where(col(PageToken.programme_id) == programme_id, col(PageToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        return max(self.session.execute(statement).rowcount, 0)  # type: ignore[attr-defined]

    def live(self, token_hash: str) -> PageToken | None:
        """The live (unrevoked) token with this hash."""
        statement = select(PageToken).where(
            col(PageToken.token_hash) == token_hash, col(PageToken.revoked_at).is_(None)
        )
        return self.session.exec(statement).first()

    def secret(self) -> str:
        """The installation's CSRF key (written by migration 0008)."""
        found = self.session.exec(select(PageSecret.secret).order_by(col(PageSecret.id))).first()
        return found or ""
