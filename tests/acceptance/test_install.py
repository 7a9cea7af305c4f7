"""The wheel built from this repository, installed into a fresh venv and run from an empty
folder: the definitions, templates and migrations ship in it (issue 12, "Installing it")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{args} exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A venv with only the built wheel installed; returns its bin folder and a clean env."""
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FBH_") and k != "PYTHONPATH"}
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", base / "dist", REPO],
        cwd=base,
        env=env,
    )
    (wheel,) = (base / "dist").glob("fbh-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "engine/_workflows/socialt-beredskab.toml",
        "engine/_workflows/tilpasset.toml",
        "notifications/templates/invite.html",
        "notifications/templates/page/tovholder.html",  # the tovholder's page and its CSS
        "notifications/templates/page/page.css",
        "engine/migrations/script.py.mako",
        "engine/migrations/versions/0001_initial_schema.py",
        "engine/locale/da/LC_MESSAGES/fbh.mo",  # the Danish CLI (engine/domain/i18n.py)
    ):
        assert shipped in names, f"{shipped} is not in {wheel.name}"
    assert not any(n.startswith("workflows/") for n in names)  # nothing at the top of site-packages

    venv = base / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=base, env=env)
    python = venv / "bin" / "python"
    # The dependencies come from this test run's venv (a path entry, so its editable fbh does
    # not come along): the test stays offline and quick; fbh itself comes only from the wheel.
    purelib = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=base,
        env=env,
    ).stdout.strip()
    Path(purelib, "_fbh_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel],
        cwd=base,
        env=env,
    )
    where = run([python, "-c", "import engine; print(engine.__file__)"], cwd=base, env=env)
    assert where.stdout.startswith(purelib), where.stdout
    return venv / "bin", env


@pytest.mark.slow
def test_plan_from_an_empty_folder(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed
    plan = run(
        [bin_dir / "fbh", "plan", "socialt-beredskab", "--start", "2027-01-04", "--json"],
        cwd=tmp_path,
        env=env,
    ).stdout
    assert json.loads(plan)["milestones"], plan
    assert run([bin_dir / "fbh", "--version"], cwd=tmp_path, env=env).stdout == "fbh 0.1.0\n"
    danish = run([bin_dir / "fbh", "--help"], cwd=tmp_path, env=env | {"LANG": "da_DK.UTF-8"})
    assert "Kommandoer" in danish.stdout and "Prøvekørsel af en tidsplan" in danish.stdout


@pytest.mark.slow
def test_demo_from_an_empty_folder(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed
    run([bin_dir / "fbh", "demo"], cwd=tmp_path, env=env)
    assert (tmp_path / "var" / "fbh.sqlite3").is_file()
    assert list((tmp_path / "var" / "mail" / "new").iterdir()), "the demo delivered no mail"


@pytest.mark.slow
def test_config_without_workflows_key_uses_shipped_definitions(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, env = installed
    run([bin_dir / "fbh", "init", "etc"], cwd=tmp_path, env=env)
    config = tmp_path / "etc" / "config.toml"
    assert "\nworkflows =" not in config.read_text(encoding="utf-8")
    listed = run(
        [bin_dir / "fbh", "-v", "--config", config, "workflows", "list"], cwd=tmp_path, env=env
    )
    assert "socialt-beredskab" in listed.stdout
    assert "site-packages/engine/_workflows" in listed.stderr, listed.stderr
    run([bin_dir / "fbh", "--config", config, "migrate"], cwd=tmp_path, env=env)
    status = run([bin_dir / "fbh", "--config", config, "status"], cwd=tmp_path, env=env).stdout
    assert f"config: {config}" in status
    assert f"database: sqlite:///{tmp_path}/etc/var/fbh.sqlite3" in status
