"""The exception hierarchy. Every error fbh raises on purpose is an ``FbhError``.

User errors (bad input, unknown ids, a refused change) exit the CLI with code 2 and one line on
stderr. A database or mail server that cannot be reached is not the user's mistake: an
``UnavailableError`` exits with code 3. Driver errors (SMTP, database) are translated at the
boundary with the cause attached (``raise ... from exc``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.domain.i18n import N_, _

# What a NotFoundError or InvalidTransitionError names, translated when the message is made
# (engine/domain/i18n.py): the ``what``/``entity`` arguments given in the code.
NOUNS = (
    N_("programme"),
    N_("milestone"),
    N_("request"),
    N_("workflow"),
    N_("consultant"),
    N_("person"),
    N_("organisation"),
    N_("time entry"),
    N_("person with e-mail"),
    N_("programme lead ([mail] lead in config.toml)"),
)


class FbhError(Exception):
    """Root of every error fbh raises on purpose."""

    exit_code = 2


class ConfigError(FbhError):
    """The configuration file or environment is wrong."""


@dataclass(frozen=True)
class DefinitionProblem:
    """One problem in a workflow definition: ``file: key.path: message``."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '<root>'}: {self.message}"


class DefinitionError(FbhError):
    """One or more problems in workflow definitions."""

    def __init__(self, problems: Iterable[DefinitionProblem]) -> None:
        self.problems: tuple[DefinitionProblem, ...] = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class NotFoundError(FbhError):
    """An id or key that does not exist."""

    def __init__(self, what: str, ident: object) -> None:
        self.what = what
        self.ident = ident
        super().__init__(_("{what} {ident!r} not found").format(what=_(what), ident=ident))


class InvalidInputError(FbhError):
    """A value given by the user is malformed (a date, an address, a number)."""


class PlanningError(FbhError):
    """A timeline cannot be planned, e.g. a window without a working day."""

    def __init__(self, message: str, *, workflow: str | None = None, milestone: str | None = None):
        self.workflow = workflow
        self.milestone = milestone
        where = ".".join(p for p in (workflow, milestone) if p)
        super().__init__(f"{where}: {message}" if where else message)


class PrerequisiteError(FbhError):
    """A workflow needs something that is not there (e.g. TILPASSET without an agreement)."""


class InvalidTransitionError(FbhError):
    """A state machine refused an event in the current state."""

    def __init__(self, entity: str, state: str, event: str, allowed: Sequence[str] = ()) -> None:
        self.entity = entity
        self.state = state
        self.event = event
        hint = _(" (allowed: {events})").format(events=", ".join(allowed)) if allowed else ""
        message = _("{entity} in state {state!r} cannot {event!r}")
        super().__init__(message.format(entity=_(entity), state=state, event=event) + hint)


class ConflictError(FbhError):
    """The change conflicts with the current state (e.g. a reschedule outside the window)."""


class StoreError(FbhError):
    """The database failed or cannot be reached."""


class UnavailableError(FbhError):
    """A service fbh depends on (the database, the mail server) cannot be reached."""

    exit_code = 3


class DatabaseUnavailableError(StoreError, UnavailableError):
    """The database cannot be reached (connection refused, lost, timed out)."""


class TransportError(FbhError):
    """A mail transport failed.

    ``permanent`` is true when retrying cannot help (e.g. 550 no such user).
    """

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None) -> None:
        self.permanent = permanent
        self.code = code
        super().__init__(message)


class MailServerUnavailableError(TransportError, UnavailableError):
    """The mail server cannot be reached (no connection; not a refusal by the server)."""


class NoDatabaseError(ConfigError):
    """The configured database does not exist yet (no file, or no fbh tables): a command that
    only reads says where it looked instead of creating one."""


class SchemaTooNewError(UnavailableError):
    """The database schema was written by a newer fbh: this one must not use or change it."""


class SchemaOutdatedError(UnavailableError):
    """The database schema is older than this fbh: ``fbh migrate`` (or ``fbh serve``) first."""


class SmtpAuthenticationError(TransportError):
    """The mail server rejected fbh's credentials (SMTP 535 and other 5xx replies to AUTH):
    no message can go until the configuration is fixed, so none spends an attempt."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message, permanent=True, code=code)


class FieldError(InvalidInputError):
    """Bad input in one named field (``hours``, ``date``, ``note``, ``part``; None: the form).

    The message is an English catalog id with ``{placeholders}``: ``str()`` gives it in the
    process's language (the CLI's ``error:`` line), :meth:`in_language` in a given one (the
    tovholder's page is always Danish).
    """

    def __init__(self, field: str | None, message: str, **values: object) -> None:
        from engine.domain.i18n import _

        self.field = field
        self.message = message
        self.values = values
        super().__init__(_(message).format(**values))

    def in_language(self, language: str) -> str:
        from engine.domain.i18n import translations

        return translations(language).gettext(self.message).format(**self.values)
