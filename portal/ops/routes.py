"""Probes for the load balancer and the orchestrator, and the Prometheus scrape (issue 19).

`/healthz`: the process answers (it touches nothing else). `/readyz`: the database answers, its
schema is at this code's migration head (or ahead of it, during an expand/contract upgrade), and
the rate-limit store answers when one is configured; 503 otherwise. Both are JSON, public, not
rate limited and not written to the request log. `/metrics`: Prometheus' text format, only for a
bearer of METRICS_TOKEN; without the token (or with METRICS_TOKEN unset) it does not exist (404).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from portal import tokens
from portal.extensions import limiter
from portal.ops import checks, metrics
from portal.permissions import public
from portal.request_log import unlogged

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@public
@unlogged
@limiter.exempt
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
@public
@unlogged
@limiter.exempt
def readyz() -> ResponseReturnValue:
    ready, results = checks.readiness()
    return jsonify(status="ready" if ready else "not ready", checks=results), 200 if ready else 503


def _bearer_matches(expected: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and tokens.same_secret(token.strip(), expected)


@bp.get("/metrics", endpoint="metrics")
@public
@unlogged
@limiter.exempt
def metrics_page() -> ResponseReturnValue:
    if not _bearer_matches(str(current_app.config.get("METRICS_TOKEN", ""))):
        abort(404)  # off, or not for this caller: nothing to see here
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)
