"""The JSON API's authorization matrix (SECURITY A2 for keys): every API route × a key of each built-in role,
another tenant's admin, and scoped keys.

KEY_MATRIX has one row per API route ("METHOD endpoint") and one expected answer per caller of KEY_CALLERS:

    A  allowed: anything but 401, 403, 404 or a 5xx (the body is empty, so 200, 201, 204, 409, 422… all count)
    D  denied: 403 (the key's scopes ∩ its owner's default-role permissions lack the route's permission)
    N  not found: 404 (another tenant's account)

Keys: one per user of tenant A with its default scopes (all its owner holds), tenant B's admin, and two keys of
tenant A's admin scoped down: `readonly` (every *:read permission) and `none` (no permission at all).
Requests carry no body (a JSON body only where one is required: `{}`), on rows of tenant A made fresh for each
request (the factories of test_authorization_matrix). A new API route without a row fails the suite.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from werkzeug.routing import Rule

from portal.permissions import Permission
from tests.api_client import Api, key_for
from tests.helpers import Portal, Tenant
from tests.routes.test_authorization_matrix import ID_FACTORIES, Case, _member, _target

KEY_CALLERS = (
    "member",
    "user_manager",
    "group_manager",
    "auditor",
    "admin",
    "owner",
    "other_admin",
    "readonly",
    "none",
)
READS = tuple(p.value for p in Permission if p.value.endswith(":read"))

#                                                 mem  um   gm   aud  adm  own  other ro  none
KEY_MATRIX: dict[str, str] = {
    "GET api_v1.me": "A    A    A    A    A    A    A    A    A",
    "GET api_v1.list_permissions": "A    A    A    A    A    A    N    A    A",
    # Users: users:read, users:write, users:password, users:mfa_reset; roles:write for a user's roles
    "GET api_v1.list_users": "D    A    A    A    A    A    N    A    D",
    "POST api_v1.create_user": "D    A    D    D    A    A    N    D    D",
    "GET api_v1.get_user": "D    A    A    A    A    A    N    A    D",
    "PATCH api_v1.update_user": "D    A    D    D    A    A    N    D    D",
    "DELETE api_v1.delete_user": "D    A    D    D    A    A    N    D    D",
    "PUT api_v1.replace_user_roles": "D    D    D    D    A    A    N    D    D",
    "POST api_v1.grant_user_role": "D    D    D    D    A    A    N    D    D",
    # Imports and jobs (issue 18): users:write to import, users:read to follow
    "POST api_v1.create_import": "D    A    D    D    A    A    N    D    D",
    "GET api_v1.get_job": "D    A    A    A    A    A    N    A    D",
    "GET api_v1.job_report": "D    A    A    A    A    A    N    A    D",
    "POST api_v1.set_password": "D    A    D    D    A    A    N    D    D",
    "POST api_v1.change_password": "D    A    D    D    A    A    N    D    D",
    "POST api_v1.reset_mfa": "D    A    D    D    A    A    N    D    D",
    "POST api_v1.disable_user": "D    A    D    D    A    A    N    D    D",
    "POST api_v1.enable_user": "D    A    D    D    A    A    N    D    D",
    # Invitations: invitations:read, invitations:write
    "GET api_v1.list_invitations": "D    A    D    A    A    A    N    A    D",
    "POST api_v1.create_invitations": "D    A    D    D    A    A    N    D    D",
    "GET api_v1.get_invitation": "D    A    D    A    A    A    N    A    D",
    "PATCH api_v1.update_invitation": "D    A    D    D    A    A    N    D    D",
    "POST api_v1.resend_invitation": "D    A    D    D    A    A    N    D    D",
    "POST api_v1.resend_invitation_of_user": "D    A    D    D    A    A    N    D    D",
    "DELETE api_v1.revoke_invitation": "D    A    D    D    A    A    N    D    D",
    # Roles: roles:read, roles:write
    "GET api_v1.list_roles": "D    A    D    A    A    A    N    A    D",
    "POST api_v1.create_role": "D    D    D    D    A    A    N    D    D",
    "GET api_v1.get_role": "D    A    D    A    A    A    N    A    D",
    "PATCH api_v1.update_role": "D    D    D    D    A    A    N    D    D",
    "DELETE api_v1.delete_role": "D    D    D    D    A    A    N    D    D",
    # Groups and members: groups:read, groups:write
    "GET api_v1.list_groups": "D    A    A    A    A    A    N    A    D",
    "POST api_v1.create_group": "D    D    A    D    A    A    N    D    D",
    "GET api_v1.get_group": "D    A    A    A    A    A    N    A    D",
    "PATCH api_v1.update_group": "D    D    A    D    A    A    N    D    D",
    "DELETE api_v1.delete_group": "D    D    A    D    A    A    N    D    D",
    "GET api_v1.list_members": "D    A    A    A    A    A    N    A    D",
    "POST api_v1.add_members": "D    D    A    D    A    A    N    D    D",
    "PUT api_v1.replace_members": "D    D    A    D    A    A    N    D    D",
    "GET api_v1.get_member": "D    A    A    A    A    A    N    A    D",
    "DELETE api_v1.remove_member": "D    D    A    D    A    A    N    D    D",
    # The audit log: audit:read
    "GET api_v1.list_events": "D    D    D    A    A    A    N    A    D",
}

# The API's URL variables: a member is named by its user's id, a user by id (or login).
API_FACTORIES = {**ID_FACTORIES, "member_id": lambda case: (_member(case), str(_target(case).id))[1]}


def api_routes(app: Flask) -> list[tuple[str, Rule, str]]:
    """Every (row key, rule, method) of the JSON API (key-only routes)."""
    found = []
    for rule in app.url_map.iter_rules():
        if not isinstance(getattr(app.view_functions[rule.endpoint], "_access", None), tuple):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((f"{method} {rule.endpoint}", rule, method))
    return sorted(found, key=lambda item: item[0])


def _url(rule: Rule, case: Case) -> str:
    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", lambda m: API_FACTORIES[m.group(1)](case), rule.rule)


def _verdict(expected: str, status: int) -> bool:
    if expected == "D":
        return status == 403
    if expected == "N":
        return status == 404
    assert expected == "A", expected
    return status not in (401, 403, 404) and status < 500


def _caller(portal: Portal, tenant: Tenant, other: Tenant, caller: str) -> tuple[Api, object]:
    if caller == "other_admin":
        return Api(portal.app, key_for(portal, other.admin)), other.admin
    if caller == "readonly":
        return Api(portal.app, key_for(portal, tenant.admin, scopes=READS)), tenant.admin
    if caller == "none":
        return Api(portal.app, key_for(portal, tenant.admin, scopes=())), tenant.admin
    user = tenant.owner if caller == "owner" else getattr(tenant, caller)
    return Api(portal.app, key_for(portal, user)), user


def test_every_api_route_has_a_row(app: Flask) -> None:
    missing = [f"{key}  ({rule.rule})" for key, rule, _ in api_routes(app) if key not in KEY_MATRIX]
    assert not missing, "API routes without a row in KEY_MATRIX:\n" + "\n".join(missing)
    assert not set(KEY_MATRIX) - {key for key, _, _ in api_routes(app)}, "rows without a route"


def test_rows_are_well_formed() -> None:
    for key, row in KEY_MATRIX.items():
        assert len(row.split()) == len(KEY_CALLERS) and set(row.split()) <= set("ADN"), key


@pytest.mark.parametrize("caller", KEY_CALLERS)
def test_key_matrix(app: Flask, portal: Portal, caller: str) -> None:
    """Each API route answers this key as the table says: 0 unexpected answers."""
    tenant, other = portal.tenant("A"), portal.tenant("B")
    api, user = _caller(portal, tenant, other, caller)
    failures = []
    for key, rule, method in api_routes(app):
        expected = KEY_MATRIX[key].split()[KEY_CALLERS.index(caller)]
        case = Case(portal, tenant, user)  # type: ignore[arg-type]
        url = _url(rule, case)
        response = api.open(method, url, json={} if method in {"POST", "PUT", "PATCH"} else None)
        if not _verdict(expected, response.status_code):
            failures.append(
                f"{key} {url}: expected {expected}, got {response.status_code} {response.get_data(as_text=True)[:200]}"
            )
    assert not failures, f"{caller}:\n" + "\n".join(failures)
