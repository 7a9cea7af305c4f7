"""pyproject.toml lists the packages by hand (so that workflows/ can ship as
engine/_workflows); every package in the source tree must be on the list."""

from __future__ import annotations

import tomllib
from pathlib import Path

from engine.config.settings import Settings, load_settings, shipped_workflows
from engine.store.database import HEAD_REVISION, head_revision

REPO = Path(__file__).resolve().parents[2]


def test_every_package_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("engine", "notifications")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert config["tool"]["setuptools"]["package-dir"]["engine._workflows"] == "workflows"


def test_a_config_without_the_workflows_key_uses_the_shipped_definitions(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "config.toml"
    config.parent.mkdir()
    config.write_text('[engine]\ntimezone = "Europe/Copenhagen"\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.workflows_dir == shipped_workflows() == REPO / "workflows"
    assert settings.config_file == config.resolve()
    assert Settings(engine={"workflows": "defs"}, base_dir=tmp_path).workflows_dir == (
        tmp_path / "defs"
    )


def test_the_database_password_is_masked(tmp_path: Path) -> None:
    settings = Settings(database={"url": "postgresql+psycopg://fbh:s3cret@db/fbh"})
    assert settings.database_display == "postgresql+psycopg://fbh:***@db/fbh"


def test_the_head_revision_constant_matches_the_migrations() -> None:
    assert head_revision() == HEAD_REVISION
