"""``[http] listen``: HOST:PORT, checked when the config is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.http import HttpSection, split_listen
from engine.config.settings import load_settings
from engine.domain.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:8765", ("127.0.0.1", 8765)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("localhost:65535", ("localhost", 65535)),
        ("[::1]:8765", ("::1", 8765)),
    ],
)
def test_listen_addresses(text: str, address: tuple[str, int]) -> None:
    assert split_listen(text) == address
    assert HttpSection(listen=text).address == address


@pytest.mark.parametrize(
    "text", ["8765", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":8765", "::1:8765", "[x]:1"]
)
def test_bad_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        split_listen(text)


def test_no_listen_means_no_server() -> None:
    assert HttpSection().address is None
    assert HttpSection().feed_cancelled_days == 30


def test_a_bad_listen_in_the_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[http]\nlisten = "localhost"\n', encoding="utf-8")

    with pytest.raises(ConfigError, match=r"config\.toml: http\.listen: .*HOST:PORT"):
        load_settings(config)
