"""CLI: ``fbh init [DIR]`` writes a commented ``config.toml`` and creates ``var/``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.common import checked_path, say
from engine.cli.i18n import _
from engine.domain.errors import InvalidInputError

CONFIG_TEMPLATE = """\
# fbh configuration, written by `fbh init`. Every key is in docs/operations.md.
# Relative paths are resolved against this file's folder. Secrets never go here: the SMTP
# password is read from FBH_SMTP_PASSWORD in the environment.

[engine]
timezone = "Europe/Copenhagen"
hours_per_workday = 7.4            # 37-hour week
# workflows = "workflows"          # a folder of your own definitions; absent: the shipped ones
# Optional days that are not working days here (public holidays always are):
# exclude_optional_days = ["grundlovsdag", "juleaftensdag", "nytaarsaftensdag"]
# Closure periods (MM-DD, both days included): no meetings, and milestone windows stretch past
# them. Absent: 24 December – 1 January. `closures = []` switches them off.
# closures = [
#     { name = "jul og nytår", start = "12-24", end = "01-01" },
#     { name = "sommerferie", start = "07-06", end = "07-31" },
# ]

[database]
# or "postgresql+psycopg://user@host/dbname", or set FBH_DATABASE_URL; no password here:
# it comes from FBH_DATABASE_PASSWORD
url = "sqlite:///var/fbh.sqlite3"

[mail]
transport = "maildir"              # "maildir" writes mail to files; "smtp" sends it
maildir = "var/mail"
sender = "Fra bolig til hjem <fraboligtilhjem@bl.dk>"
# lead = "Programleder <programleder@bl.dk>"

[mail.smtp]
host = "smtp.example.org"
port = 587
starttls = true
# username = "fbh"                 # password only from FBH_SMTP_PASSWORD

[digest]                           # the weekly e-mail digests, in [engine] timezone
weekday = "monday"
time = "07:00"
"""


def init(
    directory: Annotated[
        Path, typer.Argument(help="Folder for config.toml and var/ (default: here).")
    ] = Path("."),
) -> None:
    """Write a commented config.toml into DIR and create var/; never overwrites."""
    config = checked_path(directory, "DIRECTORY") / "config.toml"
    if config.exists():
        raise InvalidInputError(
            _("{config}: already exists; fbh init never overwrites it").format(config=config)
        )
    if directory.exists() and not directory.is_dir():
        raise InvalidInputError(_("{directory}: not a folder").format(directory=directory))
    (directory / "var").mkdir(parents=True, exist_ok=True)
    with config.open("x", encoding="utf-8") as handle:  # "x": fails rather than overwrite
        handle.write(CONFIG_TEMPLATE)
    say(
        _("wrote {config} and created {var}").format(
            config=config.resolve(), var=(directory / "var").resolve()
        )
    )
