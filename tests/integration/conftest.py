"""Fixtures for integration tests: a real SMTP server (aiosmtpd) on 127.0.0.1.

``smtp_server`` yields a :class:`SmtpTestServer`: it records every received message and every
connection, and has knobs to refuse recipients, delay replies or drop the connection in DATA.
``smtp_server_factory`` starts more servers with other options (AUTH mechanisms, STARTTLS,
implicit TLS). ``closed_port`` is a port nobody listens on; ``silent_port`` accepts TCP
connections but never greets.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from smtpserver import (  # noqa: F401  (re-exported for the tests of this folder)
    HOST,
    PASSWORD,
    USERNAME,
    ReceivedMessage,
    SmtpTestServer,
    free_port,
    start_smtp_server,
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip outside CI; under CI=true a missing tool is a failure."""
    if in_ci():
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


ServerFactory = Callable[..., SmtpTestServer]


@pytest.fixture
def smtp_server_factory() -> Iterator[ServerFactory]:
    """Start aiosmtpd servers on 127.0.0.1; keyword arguments go to the Controller/SMTP."""
    controllers: list[Controller] = []

    def start(**options: Any) -> SmtpTestServer:
        server, controller = start_smtp_server(**options)
        controllers.append(controller)
        return server

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(smtp_server_factory: ServerFactory) -> SmtpTestServer:
    """A plain SMTP server on 127.0.0.1 that offers AUTH PLAIN/LOGIN without TLS."""
    return smtp_server_factory()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connecting is refused)."""
    return free_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (backlog) but never sends an SMTP greeting."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1/localhost, made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        skip_or_fail("the openssl command is not installed")
    assert openssl is not None
    folder = tmp_path_factory.mktemp("tls")
    files = TlsFiles(cert=folder / "cert.pem", key=folder / "key.pem")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(files.key),
            "-out",
            str(files.cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return files
