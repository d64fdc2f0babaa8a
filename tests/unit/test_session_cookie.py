"""The signed session cookie reads and writes as Flask's, with its serializer made once per key (issue 20)."""

from __future__ import annotations

from flask import Flask, session

from portal import session_cookie


def _app() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="first-secret-key-long-enough-for-this-test")
    session_cookie.init_app(app)

    @app.get("/set")
    def set_value() -> str:
        session["value"] = "kept"
        return "set"

    @app.get("/get")
    def get_value() -> str:
        return str(session.get("value", "none"))

    return app


def test_the_serializer_is_made_once_and_again_when_the_key_changes() -> None:
    app = _app()
    interface = app.session_interface
    first = interface.get_signing_serializer(app)
    assert first is not None and interface.get_signing_serializer(app) is first
    client = app.test_client()
    client.get("/set")
    assert client.get("/get").get_data(as_text=True) == "kept"
    app.secret_key = "second-secret-key-long-enough-for-this-test"
    assert interface.get_signing_serializer(app) is not first
    assert client.get("/get").get_data(as_text=True) == "none"  # signed with a key no longer held
    app.config["SECRET_KEY_FALLBACKS"] = ["first-secret-key-long-enough-for-this-test"]
    assert client.get("/get").get_data(as_text=True) == "kept"  # the old key as a fallback reads it again
    app.secret_key = ""
    assert interface.get_signing_serializer(app) is None
