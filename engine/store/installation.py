"""This database's installation id (table ``installation``, migration 0004), read once per
:class:`~engine.store.store.Store` (see engine/domain/identity.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

__all__ = ["InstallationInfo", "read_installation"]


@dataclass(frozen=True)
class InstallationInfo:
    installation_id: str
    legacy_max_programme_id: int  # programmes up to this id keep their old meeting UIDs


def read_installation(session: Session) -> InstallationInfo:
    """The installation row; empty when the table does not exist yet (before migration 0004)."""
    statement = text("SELECT installation_id, legacy_max_programme_id FROM installation")
    try:
        with session.begin_nested():
            found = session.execute(statement).first()
    except SQLAlchemyError:
        return InstallationInfo("", 0)
    return InstallationInfo(str(found[0]), int(found[1])) if found else InstallationInfo("", 0)
