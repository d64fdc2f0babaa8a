"""Account Portal: create_app() builds the Flask application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """config -> extensions -> blueprints -> errors -> cli."""
    from portal import (
        access,
        api,
        cli,
        correlation,
        db,
        proxies,
        rate_limits,
        request_log,
        security_headers,
        session_cookie,
        templating,
    )
    from portal.accounts.routes import bp as accounts_bp
    from portal.auth.routes import bp as auth_bp
    from portal.config import load_config
    from portal.email_changes.routes import bp as email_change_bp
    from portal.errors import register_error_handlers
    from portal.extensions import csrf, htmx
    from portal.invitations.routes import public_bp as invitation_accept_bp
    from portal.jobs.queries import notify_finished
    from portal.me.routes import bp as me_bp
    from portal.ops.routes import bp as ops_bp
    from portal.permissions import can
    from portal.request_checks import check_request
    from portal.scim.routes import bp as scim_bp
    from portal.sso.routes import bp as sso_bp

    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(load_config(Path(app.instance_path)))
    app.config.update(overrides or {})
    app.permanent_session_lifetime = app.config["SESSION_MAX_HOURS"] * 3600

    db.init_app(app)
    session_cookie.init_app(app)
    app.before_request(check_request)  # before the CSRF check reads the form, and before any query
    csrf.init_app(app)
    htmx.init_app(app)
    correlation.init_app(app)
    request_log.init_app(app)
    proxies.init_app(app)
    access.init_app(app)
    app.before_request(notify_finished)  # after the access check: the starter of a finished job is told
    security_headers.init_app(app)
    templating.init_app(app)
    app.jinja_env.globals["can"] = can

    app.register_blueprint(auth_bp)
    app.register_blueprint(accounts_bp)
    api.init_app(app)
    app.register_blueprint(me_bp)
    app.register_blueprint(invitation_accept_bp)
    app.register_blueprint(email_change_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(sso_bp)
    app.register_blueprint(scim_bp)

    register_error_handlers(app)
    rate_limits.init_app(app)  # after the blueprints: it limits the views that declare @rate_limited
    cli.init_app(app)
    return app
