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
    config = load_config(
        tmp_path,
        {
            "PORTAL_ENV": "production",
            "SECRET_KEY": "k" * 40,
            "DATABASE_URL": "postgresql://u@h/db",
            "REDIS_URL": "redis://r:6379/0",
        },
    )
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_NAME"] == "__Host-portal"
    assert config["DATABASE_URL"] == "postgresql+psycopg://u@h/db"


PRODUCTION = {"PORTAL_ENV": "production", "SECRET_KEY": "k" * 40}


def test_production_refuses_per_process_rate_limit_counts_unless_asked_for(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_config(tmp_path, PRODUCTION)
    on_purpose = load_config(tmp_path, {**PRODUCTION, "RATELIMIT_STORAGE_URI": "memory://"})
    assert on_purpose["RATELIMIT_STORAGE_URI"] == "memory://"


def test_redis_url_holds_the_rate_limit_counts_unless_a_store_is_named(tmp_path: Path) -> None:
    config = load_config(tmp_path, {**PRODUCTION, "REDIS_URL": "redis://redis.internal:6379/0"})
    assert config["RATELIMIT_STORAGE_URI"] == "redis://redis.internal:6379/0"
    named = load_config(tmp_path, {**PRODUCTION, "REDIS_URL": "redis://a/0", "RATELIMIT_STORAGE_URI": "redis://b/1"})
    assert named["RATELIMIT_STORAGE_URI"] == "redis://b/1"
    assert load_config(tmp_path, {})["RATELIMIT_STORAGE_URI"] == "memory://"  # development: one process


def test_retention_defaults_and_zero_keeps_forever(tmp_path: Path) -> None:
    config = load_config(tmp_path, {"AUDIT_RETENTION_DAYS": "0"})
    assert config["AUDIT_RETENTION_DAYS"] == 0
    assert [
        load_config(tmp_path, {})[key]
        for key in ("AUDIT_RETENTION_DAYS", "OUTBOX_RETENTION_DAYS", "SESSION_RETENTION_DAYS", "TOKEN_RETENTION_DAYS")
    ] == [400, 30, 30, 30]
    with pytest.raises(ConfigError, match="TOKEN_RETENTION_DAYS"):
        load_config(tmp_path, {"TOKEN_RETENTION_DAYS": "-1"})


def test_production_with_memory_counts_on_purpose_starts_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    from unittest import mock

    from portal import create_app

    env = {**PRODUCTION, "RATELIMIT_STORAGE_URI": "memory://", "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    with mock.patch.dict(os.environ, env):
        create_app()
    assert '"event":"rate_limits_per_process"' in capsys.readouterr().err
