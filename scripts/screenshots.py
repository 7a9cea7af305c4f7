"""Screenshots of the tovholder's page for docs/, at phone (390 px) and desktop (1280 px) width.

    .venv/bin/python scripts/screenshots.py [--out docs]

Sets up a throw-away installation in a temporary folder (SQLite, a Maildir, ``[http]`` on a
free local port): one programme with TILPASSET that started three weeks ago, a few hours
logged, three participants imported from a CSV, then ``fbh serve``. Debian's chromium
(``/usr/bin/chromium``), driven by Playwright, opens the page with an error beside the hours
field, as a tovholder sees it after a typo, and saves full-page PNGs:
``tovholder-page-phone.png`` and ``tovholder-page-desktop.png``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
FBH = Path(sys.executable).with_name("fbh")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTHS = {"phone": (390, 844), "desktop": (1280, 900)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fbh(home: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(FBH), "--config", str(home / "config.toml"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        check=True,
    )
    return done.stdout.strip()


def set_up(home: Path, port: int, env: dict[str, str]) -> str:
    base = f"http://127.0.0.1:{port}"
    (home / "var").mkdir()
    (home / "config.toml").write_text(
        f"""[engine]
workflows = "{ROOT / "workflows"}"
[database]
url = "sqlite:///var/fbh.sqlite3"
[mail]
transport = "maildir"
maildir = "var/mail"
sender = "Fra bolig til hjem <fraboligtilhjem@bl.dk>"
[http]
listen = "127.0.0.1:{port}"
public_url = "{base}"
""",
        encoding="utf-8",
    )
    today = datetime.now(ZoneInfo("Europe/Copenhagen")).date()
    start = today - timedelta(days=today.weekday() + 21)  # the Monday three weeks ago
    fbh(
        home,
        env,
        *("programme", "create", "--workflow", "socialt-beredskab", "--with", "tilpasset"),
        *("--org", "Boligselskabet Østervang", "--municipality", "Helsingør"),
        *("--consultant", "Anne Holm <anne.holm@bl.dk>"),
        *("--tovholder", "Søren Ærø <soeren@oestervang.dk>"),
        *("--start", start.isoformat(), "--allow-past"),
    )
    for days, hours, note in (
        (20, "2", "Opstartsmøde og forberedelse"),
        (13, "3,5", "Kortlægning af aktørlandskabet med kommunen"),
        (6, "1,5", "Liste over inviterede til workshoppen"),
    ):
        day = max(start, today - timedelta(days=days))
        fbh(
            home,
            env,
            "time",
            "log",
            "1",
            "--hours",
            hours,
            "--date",
            day.isoformat(),
            "--note",
            note,
        )
    listing = home / "deltagere.csv"
    listing.write_bytes(
        (
            "\ufeffnavn;email;organisation;type;rolle\r\n"
            "Åse Ørnskov;aase@helsingor.dk;Helsingør Kommune;Kommune;medarbejder\r\n"
            "Bjørn Læsø;bjorn@politi.dk;Nordsjællands Politi;Politi;leder\r\n"
            "Mette Krøyer;mette@oestervang.dk;Østervang;Social vicevært;medarbejder\r\n"
        ).encode("utf-8")
    )
    fbh(home, env, "participant", "import", "1", str(listing))
    return fbh(home, env, "programme", "link", "1")


def wait_ready(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def shoot(link: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, (width, height) in WIDTHS.items():
            page = browser.new_page(viewport={"width": width, "height": height}, locale="da-DK")
            page.goto(link)
            page.get_by_label("Timer", exact=True).first.fill("2,5,")  # a typo: the error shows
            page.get_by_role("button", name="Gem timer").click()
            page.wait_for_selector("#ny-hours-fejl")
            path = out / f"tovholder-page-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
            page.close()
        browser.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_")}
    env["LANG"] = "da_DK.UTF-8"
    with tempfile.TemporaryDirectory(prefix="fbh-screens-") as folder:
        home = Path(folder)
        port = free_port()
        link = set_up(home, port, env)
        log = (home / "serve.log").open("wb")
        serve = subprocess.Popen(
            [str(FBH), "--config", str(home / "config.toml"), "serve"],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
            cwd=home,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/healthz")
            for path in shoot(link, args.out):
                sys.stdout.write(f"{path}\n")
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=10)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
