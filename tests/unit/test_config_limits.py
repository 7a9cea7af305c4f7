"""Every number in the config has a range, checked at load; credentials stay out of messages
(issue 13, §6 and §7)."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy.engine import make_url

from engine.config.base import Between
from engine.config.secrets import display_url, redact
from engine.config.settings import Settings, load_settings
from engine.domain.errors import ConfigError

SECRET = "pwSECRET8"


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ----- §6: ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "line", "key", "message"),
    [
        # the five values of the issue, each crashed at run time before
        ("mail", f"batch_size = {10**30}", "mail.batch_size", "must be between 1 and 10000"),
        ("daemon", f"batch_size = {10**30}", "daemon.batch_size", "must be between 1 and 10000"),
        (
            "mail",
            "retry_cap_seconds = 1e308",
            "mail.retry_cap_seconds",
            "must be between 0.1 and 604800",
        ),
        ("daemon", "poll_seconds = inf", "daemon.poll_seconds", "must be between 0.1 and 86400"),
        (
            "daemon",
            "leader_check_seconds = 1e-9",
            "daemon.leader_check_seconds",
            "must be between 0.1 and 300",
        ),
        # and their neighbours
        ("daemon", "heartbeat_seconds = nan", "daemon.heartbeat_seconds", "must be between"),
        ("daemon", "watch_seconds = -inf", "daemon.watch_seconds", "must be between"),
        ("mail", "max_attempts = 0", "mail.max_attempts", "must be between 1 and 1000"),
        ("mail.smtp", "port = 70000", "mail.smtp.port", "must be between 1 and 65535"),
        ("mail.smtp", "timeout = 1e308", "mail.smtp.timeout", "must be between 0.1 and 3600"),
        ("inbox", "max_bytes = 1e308", "inbox.max_bytes", ""),  # a float for an int: refused
        ("inbox", f"max_bytes = {2**62}", "inbox.max_bytes", "must be between 1024 and"),
        ("inbox.imap", "timeout = inf", "inbox.imap.timeout", "must be between"),
        ("engine", "hours_per_workday = 1e-9", "engine.hours_per_workday", "must be between"),
        ("requests", "reminder_days = [10, 100000]", "requests.reminder_days.1", "between 1 and"),
        ("http", "feed_cancelled_days = 100000", "http.feed_cancelled_days", "between 0 and 3660"),
        (
            "daemon.catch_up",
            "reminder_grace_minutes = inf",
            "daemon.catch_up",
            "reminder_grace_minutes must be a number of minutes between 0 and 525600",
        ),
        ("daemon.catch_up", "grace_minutes = nan", "daemon.catch_up.grace_minutes", "between"),
    ],
)
def test_a_number_out_of_range_is_one_line_naming_the_file_and_key(
    tmp_path: Path, table: str, line: str, key: str, message: str
) -> None:
    path = write(tmp_path, f"[{table}]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: {key}: "), text
    assert message in text
    assert "\n" not in text


def numbers(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any, list[Any]]]:
    """``(key, annotation, metadata)`` of every number in the settings tree."""
    found = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        key = f"{prefix}{name}"
        args = [a for a in typing.get_args(annotation) if a is not type(None) and a is not ...]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += numbers(annotation, f"{key}.")
        elif any(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
            inner = next(a for a in args if isinstance(a, type) and issubclass(a, BaseModel))
            found += numbers(inner, f"{key}[].")
        elif annotation in (int, float):
            found.append((key, annotation, field.metadata))
        elif typing.get_origin(annotation) is tuple and args:
            inner = args[0]
            if typing.get_origin(inner) is typing.Annotated:
                found.append((key, typing.get_args(inner)[0], list(inner.__metadata__)))
            elif inner in (int, float):
                found.append((key, inner, []))
    return found


def test_every_number_in_the_config_has_a_range() -> None:
    found = numbers(Settings)
    assert len(found) >= 20, found  # the walk reached the nested sections
    unbounded = [key for key, _, meta in found if not any(isinstance(m, Between) for m in meta)]
    assert unbounded == []


def test_the_defaults_lie_inside_their_ranges() -> None:
    Settings()  # every section's defaults validate: a default outside its range would raise
    for path in (Path("config.toml"),):
        if path.is_file():
            load_settings(path)


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[mail]\nsender = "Bol\xe6ig <a@b.dk>"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == (
        f"{path}: not UTF-8 text (byte 0xe6 at offset 20); save it as UTF-8"
    )


# ----- §7: secrets -----------------------------------------------------------------------------


def test_a_password_in_database_url_in_the_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, f'[database]\nurl = "postgresql+psycopg://fbh:{SECRET}@db/fbh"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}: database.url: a password is not read")
    assert "FBH_DATABASE_PASSWORD" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_the_password_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FBH_DATABASE_URL", raising=False)
    monkeypatch.setenv("FBH_DATABASE_PASSWORD", "p@ss:w/rd")
    settings = load_settings(write(tmp_path, '[database]\nurl = "postgresql+psycopg://fbh@db/x"'))
    url = make_url(settings.database_url)
    assert (url.username, url.password, url.host, url.database) == ("fbh", "p@ss:w/rd", "db", "x")
    assert "p@ss" not in settings.database_display


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"postgresql+psycopg//postgres:{SECRET}@127.0.0.1/test", "expected e.g."),
        (f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:abc/test", "must be a number"),
        (f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:99999/test", "must be 1–65535"),
    ],
)
def test_a_malformed_url_in_the_environment_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    monkeypatch.setenv("FBH_DATABASE_URL", url)
    with pytest.raises(ConfigError) as caught:
        Settings().database_url  # noqa: B018
    text = str(caught.value)
    assert text.startswith("FBH_DATABASE_URL: invalid database URL ")
    assert problem in text
    assert SECRET not in text and "***" in text


def test_redact_masks_every_secret_of_the_environment() -> None:
    env = {
        "FBH_SMTP_PASSWORD": "smtpSECRET",
        "FBH_IMAP_PASSWORD": "imapSECRET",
        "FBH_DATABASE_URL": f"postgresql+psycopg://fbh:{SECRET}%21@db/fbh",
    }
    text = (
        f"login failed for smtpSECRET; imap imapSECRET; url {env['FBH_DATABASE_URL']}; "
        f"decoded {SECRET}!; other postgresql://u:hunter2@h/d"
    )
    shown = redact(text, env)
    for secret in ("smtpSECRET", "imapSECRET", SECRET, "hunter2"):
        assert secret not in shown, shown
    assert display_url("postgresql+psycopg//u:hunter2@h/d") == "postgresql+psycopg//u:***@h/d"


def test_docs_list_every_range() -> None:
    """docs/operations.md, "Ranges", lists each number with the range the code declares."""
    from engine.config.base import number

    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    for key, _, meta in numbers(Settings):
        bounds = next(m for m in meta if isinstance(m, Between))
        row = f"| `{key}` | {number(bounds.low)} – {number(bounds.high)} |"
        assert row in text, row


def test_an_error_line_masks_the_secrets_of_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli.common import fail

    monkeypatch.setenv("FBH_SMTP_PASSWORD", "smtpSECRET")
    with pytest.raises(SystemExit):
        fail("535 authentication failed for fbh/smtpSECRET\x1b[2J", 2)
    assert capsys.readouterr().err == "error: 535 authentication failed for fbh/***[2J\n"
