"""The Django admin peer's settings (run from bench/.venv-django, cwd bench/djangoadmin).

Its database is DJANGO_DATABASE_URL (sqlite:///path or postgresql+psycopg://user@host:port/name, the
portal's own URL forms). DEBUG is off, as in production; the admin and auth are Django's own.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

DEBUG = False
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "bench-django-secret-key-bench-django-secret-key-0123456789")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "urls"
WSGI_APPLICATION = "wsgi.application"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _database(url: str) -> dict[str, object]:
    if url.startswith("sqlite:///"):
        # WAL and synchronous=NORMAL, as the portal runs SQLite (the seeder sets WAL in the file).
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": url.removeprefix("sqlite:///"),
            "OPTIONS": {"init_command": "PRAGMA synchronous=NORMAL;"},
        }
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": None,
    }  # one connection per worker, as the portal's pool keeps


DATABASES = {"default": _database(os.environ["DJANGO_DATABASE_URL"])}
