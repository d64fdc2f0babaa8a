"""Settings from the environment, and the production checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.config import ConfigError, load_config


def test_production_requires_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(tmp_path, {"PORTAL_ENV": "production"})


def test_production_refuses_a_short_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="32"):
        load_config(tmp_path, {"PORTAL_ENV": "production", "SECRET_KEY": "short"})


def test_development_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_config(tmp_path, {})["SECRET_KEY"]
    assert len(first) >= 32
    assert load_config(tmp_path, {})["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_defaults_to_sqlite_in_instance(tmp_path: Path) -> None:
    config = load_config(tmp_path, {})
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'portal.db'}"
    assert config["SESSION_COOKIE_SECURE"] is False
    assert config["SESSION_COOKIE_NAME"] == "portal"


def test_production_cookies_are_secure_with_the_host_prefix(tmp_path: Path) -> None:
    config = load_config(tmp_path, {"PORTAL_ENV": "production", "SECRET_KEY": "k" * 40,
                                    "DATABASE_URL": "postgresql://u@h/db", "REDIS_URL": "redis://r:6379/0"})
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_NAME"] == "__Host-portal"
    assert config["DATABASE_URL"] == "postgresql+psycopg://u@h/db"
