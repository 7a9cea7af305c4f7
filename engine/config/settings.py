"""Configuration: ``config.toml`` plus secrets from the environment (every key is in
docs/operations.md, "Configuration").

Relative paths are resolved against the folder of the config file. Passwords are read only from
the environment (``FBH_SMTP_PASSWORD``, ``FBH_IMAP_PASSWORD``, ``FBH_DATABASE_PASSWORD`` or the
whole ``FBH_DATABASE_URL``); a password in the file is refused (engine/config/secrets.py).
Every number has a range (``Between`` in the section's declaration), checked at load.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError, field_validator

from engine.config.base import Between, Section, parse_clock
from engine.config.courses import CourseSection
from engine.config.daemon import DaemonSection, RequestsSection
from engine.config.http import HttpSection
from engine.config.inbox import IMAP_PASSWORD_ENV, InboxSection
from engine.config.secrets import (
    DATABASE_PASSWORD_ENV,
    DATABASE_URL_ENV,
    display_url,
    parse_database_url,
)
from engine.domain.errors import ConfigError, InvalidInputError
from engine.domain.i18n import _
from engine.domain.model import Contact
from engine.domain.workdays import Closure, WorkingCalendar

CONFIG_ENV = "FBH_CONFIG"
PASSWORD_ENV = "FBH_SMTP_PASSWORD"
PSEUDONYM_KEY_ENV = "FBH_PSEUDONYM_KEY"  # keys the audit log's pseudonyms (docs/privacy.md)
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
OptionalDay = Literal["grundlovsdag", "juleaftensdag", "nytaarsaftensdag"]


class ClosureSection(Section):
    """A yearly closure period: ``{ name = "sommerferie", start = "07-06", end = "07-31" }``."""

    name: str
    start: str  # MM-DD, included
    end: str  # MM-DD, included; before start: the period runs over the new year

    @field_validator("start", "end")
    @classmethod
    def _month_day(cls, value: str) -> str:
        month, _, day = value.strip().partition("-")
        try:
            date(2001, int(month), int(day))
        except ValueError as exc:
            raise ValueError(f"invalid day {value!r}: expected MM-DD, e.g. 12-24") from exc
        return f"{int(month):02d}-{int(day):02d}"

    def closure(self) -> Closure:
        first, last = (tuple(int(p) for p in v.split("-")) for v in (self.start, self.end))
        return Closure(self.name, (first[0], first[1]), (last[0], last[1]))


DEFAULT_CLOSURES = (ClosureSection(name="jul og nytår", start="12-24", end="01-01"),)


class EngineSection(Section):
    timezone: str = "Europe/Copenhagen"
    hours_per_workday: Annotated[float, Between(0.1, 24)] = 7.4
    workflows: str | None = None  # None: the definitions shipped with the package
    exclude_optional_days: tuple[OptionalDay, ...] = ()
    # No meetings in these periods; windows stretch past them. [] switches them off.
    closures: tuple[ClosureSection, ...] = DEFAULT_CLOSURES
    # The CLI's language when the locale (LC_ALL, LC_MESSAGES, LANG) names none: engine/cli/i18n.py
    language: Literal["da", "en"] = "da"
    # Meetings are held inside these hours; a reschedule outside them needs --force.
    workday_start: time = time(8, 0)
    workday_end: time = time(17, 0)

    @field_validator("workday_end")
    @classmethod
    def _workday_ends_after_start(cls, value: time, info: Any) -> time:
        start = info.data.get("workday_start")
        if start is not None and value <= start:
            raise ValueError(f"workday_end {value} must be after workday_start {start}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class DatabaseSection(Section):
    url: str = "sqlite:///var/fbh.sqlite3"


class SmtpSection(Section):
    host: str = "localhost"
    port: Annotated[int, Between(1, 65535)] = 587
    starttls: bool = True
    tls: bool = False  # implicit TLS (port 465)
    username: str | None = None
    timeout: Annotated[float, Between(0.1, 3600)] = 30.0
    validate_certs: bool = True
    connections: Annotated[int, Between(1, 50)] = 4  # per batch, at once


class MailSection(Section):
    transport: Literal["maildir", "smtp", "null"] = "maildir"  # null: staging, dry runs
    maildir: str = "var/mail"
    maildir_fsync: bool = True  # fsync each message file and new/ before recording it sent
    sender: str = "Fra bolig til hjem <fraboligtilhjem@bl.dk>"
    lead: str | None = None  # the programme lead: "Name <email>"
    batch_size: Annotated[int, Between(1, 10_000)] = 100
    max_attempts: Annotated[int, Between(1, 1000)] = 8
    retry_base_seconds: Annotated[float, Between(0.1, 86_400)] = 30.0  # up to a day
    retry_cap_seconds: Annotated[float, Between(0.1, 604_800)] = 3600.0  # up to a week
    # After the mail server rejects fbh's login: how long sending pauses before a new try.
    auth_retry_seconds: Annotated[float, Between(1, 86_400)] = 300.0
    # Reminders and task notices are queued this many days ahead; the rest later, by the
    # top-up (engine/services/horizon.py).
    queue_ahead_days: Annotated[int, Between(1, 3660)] = 14
    smtp: SmtpSection = SmtpSection()

    @field_validator("sender", "lead")
    @classmethod
    def _valid_contact(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Contact.parse(value)
            except InvalidInputError as exc:
                raise ValueError(str(exc)) from exc
        return value


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DANISH_WEEKDAYS = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")


class DigestSection(Section):
    """When the weekly digests go out, in the engine's time zone."""

    weekday: str = "monday"  # an English or Danish weekday name
    time: str = "07:00"  # HH:MM, local time

    @field_validator("weekday")
    @classmethod
    def _known_weekday(cls, value: str) -> str:
        name = value.strip().lower()
        if name in _DANISH_WEEKDAYS:
            return WEEKDAYS[_DANISH_WEEKDAYS.index(name)]
        if name not in WEEKDAYS:
            raise ValueError(f"unknown weekday {value!r}: use one of {', '.join(WEEKDAYS)}")
        return name

    @field_validator("time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        return parse_clock(value, "07:00").strftime("%H:%M")


class Settings(Section):
    engine: EngineSection = EngineSection()
    database: DatabaseSection = DatabaseSection()
    mail: MailSection = MailSection()
    daemon: DaemonSection = DaemonSection()
    requests: RequestsSection = RequestsSection()
    digest: DigestSection = DigestSection()
    inbox: InboxSection = InboxSection()
    http: HttpSection = HttpSection()
    course: CourseSection = CourseSection()
    base_dir: Path = Path(".")
    config_file: Path | None = None  # the file these settings came from; None: built-in defaults

    @property
    def calendar(self) -> WorkingCalendar:
        """The working-day calendar: optional days and closure periods from ``[engine]``."""
        return WorkingCalendar.danish(
            self.engine.exclude_optional_days, [c.closure() for c in self.engine.closures]
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.engine.timezone)

    @property
    def workflows_dir(self) -> Path:
        if self.engine.workflows is None:
            return shipped_workflows()
        return self.resolve(self.engine.workflows)

    @property
    def maildir_path(self) -> Path:
        return self.resolve(self.mail.maildir)

    @property
    def database_url(self) -> str:
        """``FBH_DATABASE_URL``, else ``[database] url`` with the password of
        ``FBH_DATABASE_PASSWORD``; a malformed URL is a ``ConfigError`` (password masked)."""
        from_env = os.environ.get(DATABASE_URL_ENV)
        if from_env:
            url, source = from_env, DATABASE_URL_ENV
        else:
            url, source = self.database.url, f"{self.config_file or 'config'}: database.url"
        if url.startswith("sqlite:///") and "@" not in url:
            # no host, port or password to check: the read commands' lean path stays free of
            # SQLAlchemy (docs/benchmarks.md, "CLI start-up")
            return resolve_sqlite_url(url, self.base_dir)
        parsed = parse_database_url(url, source)
        password = os.environ.get(DATABASE_PASSWORD_ENV)
        if password and parsed.password is None:
            url = parsed.set(password=password).render_as_string(hide_password=False)
        return resolve_sqlite_url(url, self.base_dir)

    @property
    def database_display(self) -> str:
        """The database URL with any password masked, for logs and ``fbh status``."""
        url = os.environ.get(DATABASE_URL_ENV) or self.database.url
        return display_url(resolve_sqlite_url(url, self.base_dir))

    @property
    def sender(self) -> Contact:
        return Contact.parse(self.mail.sender)

    @property
    def lead(self) -> Contact | None:
        return Contact.parse(self.mail.lead) if self.mail.lead else None

    @property
    def course_lead(self) -> Contact | None:
        """Who is asked whether a course under its minimum is held: ``[course] lead``, else
        the ``[mail] lead``."""
        return Contact.parse(self.course.lead) if self.course.lead else self.lead

    @property
    def mail_domain(self) -> str:
        return self.sender.email.split("@", 1)[1]

    @property
    def digest_time(self) -> DigestTime:
        """When the weekly digests go out: weekday (0 = Monday) and local time."""
        return DigestTime(
            weekday=WEEKDAYS.index(self.digest.weekday),
            at=time.fromisoformat(self.digest.time),
        )

    @property
    def smtp_password(self) -> str | None:
        return os.environ.get(PASSWORD_ENV) or None

    @property
    def pseudonym_key(self) -> str | None:
        """The secret behind ``fbh participant forget``'s pseudonyms (None: not set)."""
        return os.environ.get(PSEUDONYM_KEY_ENV) or None

    @property
    def imap_password(self) -> str | None:
        return os.environ.get(IMAP_PASSWORD_ENV) or None

    @property
    def request_address(self) -> Contact:
        """Where requests arrive ([inbox] request_address; default: the sender)."""
        configured = self.inbox.request_address
        return Contact.parse(configured) if configured else self.sender

    def resolve(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()


@dataclass(frozen=True)
class DigestTime:
    weekday: int  # 0 = Monday
    at: time


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    """Make a relative ``sqlite:///path`` absolute against ``base_dir``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    path = url[len(prefix) :]
    if not path or path == ":memory:" or path.startswith("/"):
        return url
    return prefix + str((base_dir / path).resolve())


def shipped_workflows() -> Path:
    """The definitions shipped with fbh: ``engine/_workflows`` in an installed wheel (see
    pyproject.toml), ``workflows/`` in a source checkout or an editable install."""
    installed = Path(__file__).resolve().parents[1] / "_workflows"
    return installed if installed.is_dir() else PACKAGE_ROOT / "workflows"


def find_config(explicit: str | Path | None) -> Path | None:
    """The config file to use: ``--config``, then ``$FBH_CONFIG``, then ``./config.toml``."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    local = Path.cwd() / "config.toml"
    return local if local.is_file() else None


def load_settings(path: str | Path | None = None) -> Settings:
    """Load settings from the config file, or the embedded defaults when there is none.

    With no file, relative paths resolve against the current directory. Without
    ``[engine] workflows`` the shipped definitions are used.
    """
    config_path = find_config(path)
    if config_path is None:
        return Settings(base_dir=Path.cwd())
    data = _read_toml(config_path)
    imap = data.get("inbox", {}).get("imap") if isinstance(data.get("inbox"), dict) else None
    if isinstance(imap, dict) and "password" in imap:
        raise ConfigError(
            _(
                "{path}: inbox.imap.password: secrets are not read from the file; "
                "set {env} in the environment"
            ).format(path=config_path, env=IMAP_PASSWORD_ENV)
        )
    if isinstance(data.get("mail", {}).get("smtp"), dict) and "password" in data["mail"]["smtp"]:
        raise ConfigError(
            _(
                "{path}: mail.smtp.password: secrets are not read from the file; "
                "set {env} in the environment"
            ).format(path=config_path, env=PASSWORD_ENV)
        )
    _no_database_password(config_path, data)
    try:
        return Settings(
            base_dir=config_path.resolve().parent, config_file=config_path.resolve(), **data
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{config_path}: {where}: {message}") from exc


def _no_database_password(config_path: Path, data: dict[str, Any]) -> None:
    """Refuse ``[database] url`` with a password in it (and a URL that is not one)."""
    database = data.get("database")
    url = database.get("url") if isinstance(database, dict) else None
    if not isinstance(url, str) or "@" not in url:
        return  # no user info, no password; a wrong type is named by the section's validation
    if parse_database_url(url, f"{config_path}: database.url").password is not None:
        raise ConfigError(
            _(
                "{file}: database.url: a password is not read from the file; set {password} "
                "(or the whole URL in {url}) in the environment"
            ).format(file=config_path, password=DATABASE_PASSWORD_ENV, url=DATABASE_URL_ENV)
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(_("{path}: config file not found").format(path=path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            _(
                "{file}: not UTF-8 text (byte 0x{byte:02x} at offset {offset}); save it as UTF-8"
            ).format(file=path, byte=exc.object[exc.start], offset=exc.start)
        ) from exc
    except OSError as exc:
        raise ConfigError(
            _("{path}: cannot read config file: {reason}").format(path=path, reason=exc.strerror)
        ) from exc
