"""The systemd units in docs/ pass ``systemd-analyze verify``, and the hardened one is
measurably more confined (``systemd-analyze security --offline``).

``verify`` checks that ExecStart's program exists, so each unit is checked with its
``/opt/fbh/bin/fbh`` replaced by the ``fbh`` installed with these tests, and nothing else
changed. systemd-analyze missing: skipped with the reason, a failure when ``CI=true``
(.ci/run installs Debian's ``systemd`` package).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
UNITS = ("fbh.service", "fbh-hardened.service")
INSTALLED = "/opt/fbh/bin/fbh"
FBH = Path(sys.executable).with_name("fbh")


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        reason = "systemd-analyze is missing: apt-get install -y systemd"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (required when CI=true)")
        pytest.skip(reason)
    assert tool is not None
    return tool


def checkable(unit: str, folder: Path) -> Path:
    """A copy of the unit whose ExecStart names the fbh installed here."""
    text = (DOCS / unit).read_text("utf-8")
    exec_lines = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert exec_lines == [f"ExecStart={INSTALLED} serve"]
    copy = folder / unit
    copy.write_text(text.replace(f"ExecStart={INSTALLED} ", f"ExecStart={FBH} "), "utf-8")
    return copy


def unit_settings(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (DOCS / unit).read_text("utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize("unit", UNITS)
def test_the_unit_passes_systemd_analyze_verify(unit: str, tmp_path: Path) -> None:
    tool = systemd_analyze()
    done = subprocess.run(
        [tool, "verify", str(checkable(unit, tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""  # no warnings either (unknown keys, bad values)


def test_the_hardened_unit_confines_fbh_to_var(tmp_path: Path) -> None:
    settings = unit_settings("fbh-hardened.service")
    assert settings["ProtectSystem"] == ["strict"]
    assert settings["NoNewPrivileges"] == ["true"]
    assert settings["ReadWritePaths"] == ["/var/lib/fbh/var"]
    assert settings["Environment"] == ["FBH_CONFIG=/var/lib/fbh/config.toml"]  # var/ beside it
    assert "StateDirectory" not in settings  # it would make all of /var/lib/fbh writable

    tool = systemd_analyze()
    exposure = {}
    for unit in UNITS:
        done = subprocess.run(
            [tool, "security", "--offline=true", str(checkable(unit, tmp_path))],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
        assert level is not None, done.stdout
        exposure[unit] = float(level.group(1))
    assert exposure["fbh-hardened.service"] <= 2.0
    assert exposure["fbh-hardened.service"] < exposure["fbh.service"]
