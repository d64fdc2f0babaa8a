"""The signed session cookie: Flask's, with its signing serializer made once rather than on every request."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, unchanged but for one thing: Flask builds the serializer for each request
    (and again to save the cookie), and building one probes its JSON tagger with a dump (~25 % of reading the
    cookie, issue 20). Kept per app, made again when the secret key or its fallbacks change."""

    def __init__(self) -> None:
        self._made: tuple[Any, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """The serializer for the app's current keys (None without a secret key, as Flask's)."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._made
        if made is None or made[0] != keys:
            made = self._made = (keys, super().get_signing_serializer(app))
        return made[1]


def init_app(app: Flask) -> None:
    """Use the signed-cookie sessions above (one instance per app: it keeps that app's serializer)."""
    app.session_interface = SignedCookieSessions()
