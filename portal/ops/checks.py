"""What /readyz and /metrics check: the database, its schema against this code, the rate-limit store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from flask import current_app
from limits.storage import Storage, storage_from_string

from portal.config import MEMORY_STORAGE
from portal.rate_limits import storage_options


@dataclass
class Check:
    """One dependency: whether it answers, and what a person needs to know when it does not."""

    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.detail}


def _failure(error: Exception) -> dict[str, Any]:
    # The kind of error only: a message may carry a host name or a user name.
    return {"error": type(error).__name__}


def database() -> Check:
    """The database answers a query."""
    from sqlalchemy import text

    try:
        with current_app.extensions["portal.engine"].connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        return Check(False, _failure(error))
    return Check(True)


def schema() -> Check:
    """The schema is at this code's migration head, or ahead of it (an expand step of a newer release)."""
    from portal import migrate  # Alembic: loaded by the first readiness probe, not by every worker at start

    try:
        with current_app.extensions["portal.engine"].connect() as connection:
            state = migrate.schema_state(connection)
    except Exception as error:  # noqa: BLE001
        return Check(False, _failure(error))
    return Check(
        state.usable, {"status": state.status, "database": ",".join(state.database), "code": ",".join(state.code)}
    )


def _store() -> Storage:
    """A client of the rate-limit store of its own (flask-limiter's may belong to another app in tests)."""
    store: Storage | None = current_app.extensions.get("portal.rate_limit_store")
    if store is None:
        uri = current_app.config["RATELIMIT_STORAGE_URI"]
        store = cast(Storage, storage_from_string(uri, **storage_options(uri)))  # a synchronous store
        current_app.extensions["portal.rate_limit_store"] = store
    return store


def rate_limit_store() -> Check | None:
    """The shared rate-limit store (Redis) answers; None when counts are kept in each process."""
    uri = str(current_app.config["RATELIMIT_STORAGE_URI"])
    if uri.startswith(MEMORY_STORAGE):
        return None
    try:
        ok = bool(_store().check())
    except Exception as error:  # noqa: BLE001
        return Check(False, _failure(error))
    detail = {"store": uri.split(":", 1)[0]}
    return Check(ok, detail if ok else {**detail, "error": "unreachable"})


def readiness() -> tuple[bool, dict[str, Any]]:
    """Every check, and whether all passed (the schema is read only when the database answers)."""
    checks: dict[str, Check] = {"database": database()}
    checks["schema"] = schema() if checks["database"].ok else Check(False, {"error": "database unreachable"})
    store = rate_limit_store()
    if store is not None:
        checks["rate_limit_store"] = store
    ready = all(check.ok for check in checks.values())
    return ready, {name: check.as_json() for name, check in checks.items()}
