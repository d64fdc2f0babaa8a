"""Roles and the permission catalogue in the JSON API: list, create, read, change, delete.

Every change goes through portal.roles.services: nobody creates, edits or grants a role holding a permission
the key lacks; built-in roles are never changed (409 here: the role's state forbids it).
"""

from __future__ import annotations

import uuid

from flask import Response, g, url_for

from portal import db
from portal.actors import from_request
from portal.api import schemas
from portal.api.core import answer, bp, check_version, if_match, operation, paging
from portal.api.errors import ApiError
from portal.models import Role
from portal.pagination import Page
from portal.permissions import Permission
from portal.roles import queries, services

TAGS = ["roles"]
ROLE = "/accounts/<uuid:account_id>/roles/<uuid:role_id>"


def role_model(role: Role, member_count: int) -> schemas.Role:
    """The API's Role."""
    return schemas.Role(
        id=role.id,
        name=role.name,
        description=role.description,
        built_in=role.is_builtin,
        permissions=[p.value for p in queries.in_catalogue_order(queries.permissions_of(role))],
        member_count=member_count,
        version=str(role.version),
    )


def _answer(role: Role, status: int = 200, created: bool = False) -> Response:
    db.session.flush()
    location = url_for("api_v1.get_role", account_id=role.account_id, role_id=role.id) if created else None
    return answer(role_model(role, queries.member_count(role.id)), status, version=str(role.version), location=location)


def _guard_builtin(role: Role) -> None:
    """The service refuses to change a built-in role (BuiltinRoleRefusal); here that is the role's state: 409."""
    try:
        services.ensure_may_change(role, g.permissions)
    except services.BuiltinRoleRefusal as refusal:
        raise ApiError.one(409, refusal.message) from None


@bp.get("/accounts/<uuid:account_id>/permissions")
@operation(answers={200: schemas.PermissionList}, tags=TAGS)
def list_permissions(account_id: uuid.UUID) -> Response:  # noqa: ARG001 (passed by name; checked by @operation's key)
    """The permission catalogue roles are made of (any valid key of the account)."""
    return answer(
        schemas.PermissionList([schemas.PermissionInfo(name=p.value, description=p.description) for p in Permission])
    )


@bp.get("/accounts/<uuid:account_id>/roles")
@operation(Permission.ROLES_READ, query=schemas.ListQuery, answers={200: schemas.RolesPage}, tags=TAGS)
def list_roles(account_id: uuid.UUID, query: schemas.ListQuery) -> Response:
    """List the account's roles, built-in ones first, with how many users hold each (`from`, `take`)."""
    rows = queries.roles_with_member_counts(account_id)
    page = Page(items=rows[query.from_ : query.from_ + query.take], start=query.from_, take=query.take, total=len(rows))
    next_args = {"from": query.from_ + query.take} if page.has_next else None
    return answer(
        schemas.RolesPage(
            roles=[role_model(row.role, row.member_count) for row in page.items], **paging(page, next_args=next_args)
        )
    )


@bp.post("/accounts/<uuid:account_id>/roles")
@operation(Permission.ROLES_WRITE, body=schemas.RoleCreate, answers={201: schemas.Role}, errors=(409,), tags=TAGS)
def create_role(account_id: uuid.UUID, body: schemas.RoleCreate) -> Response:
    """Create a custom role from permissions the key holds."""
    problem = services.name_problem(account_id, body.name)
    if problem:
        raise ApiError.one(422, problem, field="name")
    role = services.create_role(
        account_id,
        name=body.name,
        description=body.description,
        permissions=frozenset(Permission(p) for p in body.permissions),
        actor=from_request(),
    )
    return _answer(role, 201, created=True)


@bp.get(ROLE)
@operation(Permission.ROLES_READ, answers={200: schemas.Role}, tags=TAGS)
def get_role(account_id: uuid.UUID, role_id: uuid.UUID) -> Response:
    """Read one role."""
    return _answer(queries.role_in_account(account_id, role_id))


@bp.patch(ROLE)
@operation(Permission.ROLES_WRITE, body=schemas.RoleUpdate, answers={200: schemas.Role}, errors=(409, 412), tags=TAGS)
def update_role(account_id: uuid.UUID, role_id: uuid.UUID, body: schemas.RoleUpdate) -> Response:
    """Change a custom role's name, description or permissions (built-in roles: 409)."""
    role = queries.role_in_account(account_id, role_id)
    _guard_builtin(role)
    name = body.name if body.name is not None else role.name
    problem = services.name_problem(account_id, name, role.id)
    if problem:
        raise ApiError.one(422, problem, field="name")
    permissions = (
        frozenset(Permission(p) for p in body.permissions)
        if body.permissions is not None
        else queries.permissions_of(role)
    )
    services.update_role(
        role,
        name=name,
        description=body.description if body.description is not None else role.description,
        permissions=permissions,
        expected_version=if_match(role),
        actor=from_request(),
    )
    return _answer(role)


@bp.delete(ROLE)
@operation(Permission.ROLES_WRITE, answers={204: None}, errors=(409, 412, 422), tags=TAGS)
def delete_role(account_id: uuid.UUID, role_id: uuid.UUID) -> Response:
    """Delete a custom role; whoever held it no longer does (built-in roles: 409)."""
    role = queries.role_in_account(account_id, role_id)
    _guard_builtin(role)
    check_version(role)
    services.delete_role(role, actor=from_request())
    return answer(None, 204)
