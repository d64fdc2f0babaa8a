"""The JSON API, v1 (/api/v1; contract: API.md): every seed operation, for programs holding an API key.

Modules: core (the blueprint and @operation), auth (keys, scopes, tenant, rate limits), errors (JSON
errors), schemas (the pydantic models), idempotency, references (roles and groups named in bodies),
one module per resource (users, invitations, roles, groups, audit), docs (OpenAPI and /api/docs).
"""

from __future__ import annotations

from flask import Flask, Response


def init_app(app: Flask) -> None:
    """Register the API's blueprints (each resource module adds its routes to core.bp) and its answer hooks."""
    from portal.api import audit, auth, groups, invitations, jobs, roles, users  # noqa: F401 - they add the routes
    from portal.api.core import bp
    from portal.api.docs import bp as docs_bp
    from portal.api.errors import ApiError, from_api_error
    from portal.errors import discard_request_changes

    def _api_error(error: ApiError) -> Response:
        discard_request_changes()
        return from_api_error(error)

    app.register_blueprint(bp)
    app.register_blueprint(docs_bp)
    app.register_error_handler(ApiError, _api_error)
    auth.init_app(app)
