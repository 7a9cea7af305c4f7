"""A private Dovecot IMAP server for tests (Debian's ``dovecot-imapd``).

:func:`start_dovecot` writes an unprivileged configuration into a temporary folder — its own
base_dir, log, passwd-file with one test user, Maildir homes and a self-signed certificate made
with the openssl CLI — and runs ``dovecot -F`` on two free loopback ports: IMAPS (implicit TLS)
and IMAP with STARTTLS. No system service is used or touched. Run as root, Dovecot's own
``dovecot``/``dovenull`` users run its processes and the mail belongs to ``nobody``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from smtpserver import free_port

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
)
USERNAME = "fbh"
PASSWORD = "imap-test-password"
DH_FILE = Path("/usr/share/dovecot/dh.pem")


@dataclass
class Dovecot:
    folder: Path
    process: subprocess.Popen[bytes]
    imaps_port: int
    starttls_port: int
    cafile: Path
    username: str = USERNAME
    password: str = PASSWORD
    host: str = "127.0.0.1"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        path = self.folder / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def start_dovecot() -> Dovecot:
    """Start a server in a new folder under the system temp dir: Dovecot's unprivileged
    processes must be able to reach it, which pytest's 0700 tmp_path does not allow."""
    assert DOVECOT is not None
    folder = Path(tempfile.mkdtemp(prefix="fbh-dovecot-"))
    os.chmod(folder, 0o755)
    cert, key = make_certificate(folder)
    root = os.geteuid() == 0
    if root:
        mail_user = pwd.getpwnam("nobody")
        internal, login = "dovecot", "dovenull"
    else:
        mail_user = pwd.getpwuid(os.geteuid())
        internal = login = mail_user.pw_name
    home = folder / "home" / USERNAME
    home.mkdir(parents=True)
    for path in (folder / "home", home):
        os.chmod(path, 0o755)
        if root:
            os.chown(path, mail_user.pw_uid, mail_user.pw_gid)
    if root:
        for name in ("cert.pem", "key.pem"):
            os.chmod(folder / name, 0o644)
    users = folder / "users"
    users.write_text(f"{USERNAME}:{{PLAIN}}{PASSWORD}::::::\n")
    os.chmod(users, 0o644)
    imaps, starttls = free_port(), free_port()
    dh = f"ssl_dh = <{DH_FILE}\n" if DH_FILE.exists() else ""
    config = folder / "dovecot.conf"
    config.write_text(
        f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
info_log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
{dh}
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
first_valid_uid = 1
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={folder}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {starttls}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
    )
    with (folder / "stdout.log").open("wb") as output:
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)], stdout=output, stderr=subprocess.STDOUT
        )
    server = Dovecot(folder, process, imaps, starttls, cert)
    _wait_for(server)
    return server


def _wait_for(server: Dovecot, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            output = (server.folder / "stdout.log").read_text(errors="replace")
            raise RuntimeError(f"dovecot exited: {output}\n{server.log()}")
        try:
            with (
                socket.create_connection((server.host, server.imaps_port), timeout=1),
                socket.create_connection((server.host, server.starttls_port), timeout=1),
            ):
                return
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"dovecot did not listen within {timeout} s\n{server.log()}")
