"""Settings from the environment, with the checks production needs."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _dev_secret_key(instance_path: Path) -> str:
    """A random key made once and kept in instance/, so dev sessions survive restarts."""
    path = instance_path / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


class ConfigError(RuntimeError):
    """The environment does not describe a runnable portal."""


MEMORY_STORAGE = "memory://"


def _days(env: dict[str, str], name: str, default: int) -> int:
    value = int(env.get(name) or default)
    if value < 0:
        raise ConfigError(f"{name} must be a number of days (0 keeps forever).")
    return value


def load_config(instance_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config from environment variables (see the README's table)."""
    env = dict(os.environ if env is None else env)
    production = env.get("PORTAL_ENV", "development") == "production"
    instance_path.mkdir(parents=True, exist_ok=True)

    secret_key = env.get("SECRET_KEY")
    if not secret_key:
        if production:
            raise ConfigError("SECRET_KEY must be set when PORTAL_ENV=production.")
        secret_key = _dev_secret_key(instance_path)
    elif production and len(secret_key) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters in production.")

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'portal.db'}"
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")

    secure_cookies = _flag(env.get("SESSION_COOKIE_SECURE"), default=production)
    redis_url = env.get("REDIS_URL", "")
    storage_uri = env.get("RATELIMIT_STORAGE_URI") or redis_url or MEMORY_STORAGE
    if production and not env.get("RATELIMIT_STORAGE_URI") and not redis_url:
        raise ConfigError(
            "Set REDIS_URL (or RATELIMIT_STORAGE_URI) when PORTAL_ENV=production: rate-limit counts must be shared "
            "by every worker and server. To count in each process on purpose, set RATELIMIT_STORAGE_URI=memory://."
        )
    return {
        "PORTAL_ENV": "production" if production else "development",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "PORTAL_BASE_URL": env.get("PORTAL_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        # Cookies: HttpOnly, SameSite=Lax; Secure and the __Host- prefix when served over HTTPS.
        "SESSION_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "__Host-portal" if secure_cookies else "portal",
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # The signed cookie is sent when the session changes (sign-in, a flashed message), not re-signed on every
        # response: the idle and absolute timeouts are the server's (auth.login_sessions), and the cookie set at
        # sign-in lasts SESSION_MAX_HOURS, as long as the server-side session can (issue 20: ~0.2 ms a page).
        "SESSION_REFRESH_EACH_REQUEST": False,
        "SESSION_IDLE_MINUTES": int(env.get("SESSION_IDLE_MINUTES", "30")),
        "SESSION_MAX_HOURS": int(env.get("SESSION_MAX_HOURS", "12")),
        "WTF_CSRF_TIME_LIMIT": int(env.get("WTF_CSRF_TIME_LIMIT", "3600")),
        "SMTP_HOST": env.get("SMTP_HOST", ""),
        "SMTP_PORT": int(env.get("SMTP_PORT", "25")),
        "SMTP_USERNAME": env.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _flag(env.get("SMTP_STARTTLS"), default=False),
        "MAIL_FROM": env.get("MAIL_FROM", "Account Portal <portal@localhost>"),
        "INVITATION_TTL_DAYS": int(env.get("INVITATION_TTL_DAYS", "7")),
        "INVITATIONS_PER_DAY": int(env.get("INVITATIONS_PER_DAY", "500")),
        "SQL_ECHO": _flag(env.get("SQL_ECHO"), default=False),
        # Abuse protection (issue 8): see portal/rate_limits.py and portal/proxies.py.
        # Shared state lives in shared stores (issue 19): rate-limit counts in Redis when REDIS_URL is set.
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": storage_uri,
        "RATELIMIT_PER_ADDRESS": env.get("RATELIMIT_PER_ADDRESS", "30 per minute;300 per hour"),
        "RATELIMIT_PER_LOGIN": env.get("RATELIMIT_PER_LOGIN", "10 per minute;60 per hour"),
        # Requests one API key may make (GitHub's REST API allows 5,000 an hour; this is per minute, so that a
        # burst is allowed and a runaway script is stopped soon).
        "RATELIMIT_API": env.get("RATELIMIT_API", "600 per minute"),
        # Requests one provisioning token may make (SCIM): an identity provider's first import of a big
        # directory sends a lookup and a create per person, so more than an API key.
        "RATELIMIT_SCIM": env.get("RATELIMIT_SCIM", "1200 per minute"),
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0")),
        # /metrics answers only a bearer of this token; unset: /metrics is off (404).
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),
        # Retention (days; 0 keeps forever): the worker deletes older rows in batches (portal/retention.py).
        "AUDIT_RETENTION_DAYS": _days(env, "AUDIT_RETENTION_DAYS", 400),
        "OUTBOX_RETENTION_DAYS": _days(env, "OUTBOX_RETENTION_DAYS", 30),
        "SESSION_RETENTION_DAYS": _days(env, "SESSION_RETENTION_DAYS", 30),
        "TOKEN_RETENTION_DAYS": _days(env, "TOKEN_RETENTION_DAYS", 30),
        "JOB_RETENTION_DAYS": _days(env, "JOB_RETENTION_DAYS", 30),
        # Jobs (issue 18, portal/jobs): items per batch (each batch one transaction), and how long a worker's
        # claim on a job lasts without a batch committing (then another worker resumes it).
        "JOB_BATCH": int(env.get("JOB_BATCH", "200")),
        "JOB_LEASE_SECONDS": float(env.get("JOB_LEASE_SECONDS", "120")),
        "JOB_BATCH_PAUSE": float(env.get("JOB_BATCH_PAUSE", "0")),  # tests only: seconds between batches
        "SSO_REQUEST_RETENTION_DAYS": _days(env, "SSO_REQUEST_RETENTION_DAYS", 1),
    }
