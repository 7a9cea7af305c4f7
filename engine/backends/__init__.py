"""One module per database behind :mod:`engine.backends.abc`; :func:`backend_for` picks it."""

from __future__ import annotations

import importlib

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from engine.backends.abc import Backend, redact
from engine.domain.errors import StoreError
from engine.domain.i18n import _

# Imported on use: a SQLite command does not load psycopg (docs/benchmarks.md, "CLI start-up").
_BACKENDS: dict[str, tuple[str, str]] = {
    "sqlite": ("engine.backends.sqlite", "SqliteBackend"),
    "postgresql": ("engine.backends.postgres", "PostgresBackend"),
}


def backend_for(url: str) -> Backend:
    """The backend of the database at ``url`` (the one place that looks at its scheme)."""
    try:
        name = make_url(url).get_backend_name()
    except (ArgumentError, ValueError) as exc:
        raise StoreError(_("invalid database url {url!r}").format(url=redact(url))) from exc
    found = _BACKENDS.get(name)
    if found is None:
        raise StoreError(
            _("unsupported database {url}: use sqlite or postgresql+psycopg").format(
                url=redact(url)
            )
        )
    module, cls = found
    backend: type[Backend] = getattr(importlib.import_module(module), cls)
    return backend(url)
