"""The parent of every /accounts/<account_id>/… page: it takes the account id off the URL.

portal.access then checks that the signed-in person belongs to that account (404 if not).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

bp = Blueprint("accounts", __name__, url_prefix="/accounts/<uuid:account_id>")


@bp.url_value_preprocessor
def _take_account_id(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values is not None:
        g.account_id = values.pop("account_id")


@bp.url_defaults
def _add_account_id(_endpoint: str, values: dict[str, Any]) -> None:
    if "account_id" not in values and "account" in g:
        values["account_id"] = g.account.id


def _nest_feature_blueprints() -> None:
    """Every account feature lives under /accounts/<account_id>; nested once, at import."""
    from portal.users.routes import bp as users_bp

    for child in (users_bp,):
        bp.register_blueprint(child)


_nest_feature_blueprints()
