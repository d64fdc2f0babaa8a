"""Idempotency-Key on POST (API.md): the same key and body within 24 hours replays the first answer.

The key is stored per API key, in the request's own transaction, before the change runs: two requests
with one key at the same moment meet on the table's unique (api_key_id, key); the second waits for the
first to commit, then replays its answer. A key reused with another body is refused (422). A request
that fails changes nothing, its key included, so it may be retried. Rows older than 24 hours are
deleted whenever their API key sends a new Idempotency-Key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from flask import Response, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portal import db
from portal.api.errors import ApiError
from portal.db import utcnow
from portal.models import ApiKey, IdempotencyKey

HEADER = "Idempotency-Key"
WINDOW = timedelta(hours=24)
REPLAYED = "Idempotent-Replayed"
KEPT_HEADERS = ("Location", "ETag")


def _fingerprint(body: object) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _replay(row: IdempotencyKey, fingerprint: str) -> Response:
    if row.fingerprint != fingerprint:
        raise ApiError.one(
            422,
            "This Idempotency-Key was used with another request in the last 24 hours; use a new key for a new request.",
            code="IdempotencyKeyReused",
            field=HEADER,
        )
    response = Response(row.body, status=row.status_code, mimetype="application/json")
    for name, value in (row.headers or {}).items():
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


def _find(api_key: ApiKey, key: str) -> IdempotencyKey | None:
    return db.session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.api_key_id == api_key.id, IdempotencyKey.key == key)
    )


def begin(api_key: ApiKey, body: object) -> Response | IdempotencyKey | None:
    """For a POST: the replayed answer, or the reserved row to finish() with the new answer, or None
    (no Idempotency-Key sent)."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ApiError.one(422, "An Idempotency-Key is 1 to 255 printable characters.", field=HEADER)
    fingerprint = _fingerprint(body)
    db.session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.api_key_id == api_key.id, IdempotencyKey.created_at < utcnow() - WINDOW
        )
    )
    found = _find(api_key, key)
    if found is not None:
        return _replay(found, fingerprint)
    row = IdempotencyKey(api_key_id=api_key.id, key=key, fingerprint=fingerprint)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # a request with the same key committed a moment ago
        found = _find(api_key, key)
        if found is None:  # pragma: no cover - it was committed, so it is there
            raise ApiError.one(409, "A request with this Idempotency-Key is in progress.") from None
        return _replay(found, fingerprint)
    return row


def finish(row: IdempotencyKey, response: Response) -> None:
    """Keep the answer to replay (in the transaction of the change it answers)."""
    row.status_code = response.status_code
    row.body = response.get_data(as_text=True)
    row.headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
