"""Users in the JSON API (seeds 000, 001, 002): list, create, read, update, roles, password, MFA, status, delete.

Every change goes through portal.users.services (or roles, invitations) — the services the pages call —
with the key's owner as the actor and the key's permissions as theirs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import cast

from flask import Response, g, url_for

from portal import db
from portal.actors import from_request
from portal.api import schemas
from portal.api.core import answer, bp, check_version, if_match, operation, paging
from portal.api.errors import ApiError
from portal.api.references import groups_named, roles_named
from portal.field_rules import password_problem
from portal.groups.queries import member_status, memberships_by_user
from portal.invitations import clock
from portal.invitations import services as invitations
from portal.invitations.queries import invitation_status_by_user
from portal.models import Account, InvitationStatus, User
from portal.permissions import Permission
from portal.roles import services as roles
from portal.roles.queries import roles_by_reference
from portal.users import queries, services

TAGS = ["users"]
USER = "/accounts/<uuid:account_id>/users/<user>"


def _invitation_status(status: InvitationStatus | None) -> schemas.InvitationStatusName | None:
    return status.value if status is not None else None


def user_models(users: Sequence[User]) -> list[schemas.User]:
    """The API's User for each user: three statements for all of them (roles, invitations, groups)."""
    ids = [user.id for user in users]
    details = queries.with_details(users)  # the roles by name, as the users list reads them
    invitation = invitation_status_by_user(ids, clock.now())
    groups = memberships_by_user(ids)
    models = []
    for user, row in zip(users, details, strict=True):
        names = row.roles
        status = member_status(user.status)
        models.append(
            schemas.User(
                id=user.id,
                login=user.login,
                email=user.email,
                first_name=user.first_name,
                last_name=user.last_name,
                company_name=user.company_name,
                address=user.address,
                postal_code=user.postal_code,
                city=user.city,
                state=user.state,
                country=user.country,
                phone=user.phone,
                status=cast(schemas.UserStatusName, user.status),
                is_owner=user.is_owner,
                mfa_enabled=user.mfa_enabled,
                is_sso_user=user.is_sso,
                invitation_status=_invitation_status(invitation.get(user.id)),
                roles=[role.name for role in names],
                default_roles=[role.name for role in names if role.is_default],
                group_memberships=[
                    schemas.GroupMembership(
                        group_id=group_id, name=name, status=cast(schemas.MemberStatusName, status), created_at=added
                    )
                    for group_id, name, added in groups.get(user.id, [])
                ],
                last_sign_in_at=user.last_login_at,
                created_at=user.created_at,
                updated_at=user.updated_at,
                version=str(user.version),
            )
        )
    return models


def user_answer(user: User, status: int = 200, created: bool = False) -> Response:
    """One user, with its version as ETag (and its Location when just created)."""
    db.session.flush()
    location = url_for("api_v1.get_user", account_id=user.account_id, user=user.id) if created else None
    return answer(user_models([user])[0], status, version=str(user.version), location=location)


def _user(account_id: uuid.UUID, reference: str) -> User:
    return queries.user_by_reference(account_id, reference)


@bp.get("/accounts/<uuid:account_id>/users")
@operation(Permission.USERS_READ, query=schemas.UsersQuery, answers={200: schemas.UsersPage}, tags=TAGS)
def list_users(account_id: uuid.UUID, query: schemas.UsersQuery) -> Response:
    """List the users: the owner apart, then a page of the others by email (seeds 000, 002).

    `email` or `q` search by prefix; `status` and `role` narrow; `after` (inside `next`) pages by keyset.
    """
    role_id = None
    if query.role:
        found, _unknown = roles_by_reference(account_id, [query.role])
        if not found:
            raise ApiError.one(422, f"No such role: {query.role}.", field="role")
        role_id = found[0].id
    filters = queries.UserFilter(
        q=(query.q or query.email or "").strip(), status=query.status or "", role_id=role_id, sort="email"
    )
    page = queries.list_users(account_id, filters, query.from_, query.take, after=query.after)
    owner = queries.owner_of(account_id)
    models = user_models([*([owner] if owner else []), *page.items])
    next_args = {"from": page.start + len(page.items), "after": page.next_cursor} if page.next_cursor else None
    return answer(
        schemas.UsersPage(
            owner=models[0] if owner else None,
            users=models[1:] if owner else models,
            **paging(page, capped=page.total_is_capped, next_args=next_args),
        )
    )


@bp.post("/accounts/<uuid:account_id>/users")
@operation(Permission.USERS_WRITE, body=schemas.UserCreate, answers={201: schemas.User}, errors=(409,), tags=TAGS)
def create_user(account_id: uuid.UUID, body: schemas.UserCreate) -> Response:
    """Create a user. With `password`: an active user (seed 001; users:password). Without: a pending user who is
    emailed an invitation and chooses their login and password on accepting (seed 000; invitations:write).

    Roles (roles:write) and groups (groups:write) by name or id; nobody grants a role holding a permission
    they lack.
    """
    role_list = roles_named(account_id, body.roles)
    group_list = groups_named(account_id, body.groups)
    if body.password is not None:
        user = services.create_user(
            account_id,
            {"login": body.login or "", "email": body.email, **body.profile()},
            body.password,
            body.temporary,
            [str(role.id) for role in role_list],
            groups=group_list,
            actor=from_request(),
        )
        return user_answer(user, 201, created=True)
    if Permission.INVITATIONS_WRITE not in g.permissions:
        raise ApiError.one(403, "A user without a password is invited: that needs invitations:write.")
    account = db.session.get_one(Account, account_id)
    outcome = invitations.invite(
        account,
        [body.email],
        [r.id for r in role_list],
        [group.id for group in group_list],
        profile={k: v for k, v in body.profile().items() if v},
        actor=from_request(),
    )
    if outcome.refused:
        raise refusal_error(outcome.refused[0], field="email")
    invited = outcome.invited[0]
    return user_answer(db.session.get_one(User, invited.user_id), 201, created=True)


def refusal_error(refusal: invitations.Refusal, field: str) -> ApiError:
    """An address the invitation service refused, as the API's error (422 invalid, 409 taken, 429 limit)."""
    if refusal.kind == "limit":
        return ApiError.one(429, refusal.reason, headers={"Retry-After": "3600"})
    if refusal.kind == "invalid":
        return ApiError.one(422, refusal.reason, field=field)
    return ApiError.one(409, f"{refusal.address}: {refusal.reason}", field=field)


@bp.get(USER)
@operation(Permission.USERS_READ, query=schemas.UserQuery, answers={200: schemas.User}, tags=TAGS)
# @operation passes the read query by name: `membership` is checked and documented (seed 001) though the answer
# always holds the memberships, so the view has no use for it.
def get_user(account_id: uuid.UUID, user: str, query: schemas.UserQuery) -> Response:  # noqa: ARG001
    """Read one user by id or login, with roles, default roles and group memberships (seeds 000, 001)."""
    return user_answer(_user(account_id, user))


@bp.patch(USER)
@operation(Permission.USERS_WRITE, body=schemas.UserUpdate, answers={200: schemas.User}, errors=(409, 412), tags=TAGS)
def update_user(account_id: uuid.UUID, user: str, body: schemas.UserUpdate) -> Response:
    """Change profile fields, the login or the email; a new email is pending until the new address confirms it.

    `password`, `status` and `is_owner` are refused here (422): they have operations of their own.
    """
    found = _user(account_id, user)
    services.update_profile(found, body.changes(), if_match(found), actor=from_request())
    return user_answer(found)


@bp.put(USER + "/roles")
@operation(Permission.ROLES_WRITE, body=schemas.RolesReplace, answers={200: schemas.User}, errors=(409, 412), tags=TAGS)
def replace_user_roles(account_id: uuid.UUID, user: str, body: schemas.RolesReplace) -> Response:
    """Replace the user's whole set of roles (seed 002); `default_roles`, a subset, are active at sign-in
    (default: all). Refused with nothing changed when any role is beyond the key's permissions."""
    found = _user(account_id, user)
    check_version(found)
    wanted = roles_named(account_id, body.roles)
    defaults = (
        wanted if body.default_roles is None else roles_named(account_id, body.default_roles, field="default_roles")
    )
    if not {role.id for role in defaults} <= {role.id for role in wanted}:
        raise ApiError.one(422, "Default roles must be among the roles.", field="default_roles")
    roles.replace_roles(found, wanted, {role.id for role in defaults}, actor=from_request())
    return user_answer(found)


@bp.post(USER + "/roles")
@operation(Permission.ROLES_WRITE, body=schemas.RoleGrant, answers={200: schemas.User}, errors=(409,), tags=TAGS)
def grant_user_role(account_id: uuid.UUID, user: str, body: schemas.RoleGrant) -> Response:
    """Grant one role (or change a held one's default flag); with `expires_at` the grant is time-bound: it counts
    for nothing from then on, and the worker removes it (one audit event, a notice to the person)."""
    found = _user(account_id, user)
    role = roles_named(account_id, [body.role], field="role")[0]
    expires_at = body.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        raise ApiError.one(422, "Give the time with its zone (…Z).", code="InvalidArgument", field="expires_at")
    roles.assign_role(found, role, is_default=body.default, actor=from_request(), expires_at=expires_at)
    return user_answer(found)


def _set_password(account_id: uuid.UUID, user: str, body: schemas.PasswordSet) -> Response:
    found = _user(account_id, user)
    problem = password_problem(body.password, services.password_context(found))
    if problem:
        raise ApiError.one(422, problem, field="password")
    services.set_password(found, body.password, body.temporary, actor=from_request())
    return answer(None, 204)


@bp.post(USER + "/password")
@operation(Permission.USERS_PASSWORD, body=schemas.PasswordSet, answers={204: None}, errors=(409,), tags=TAGS)
def set_password(account_id: uuid.UUID, user: str, body: schemas.PasswordSet) -> Response:
    """Set the user's password (seed 001 ChangeUserPassword; temporary by default): their sessions end and they
    are told. Never the owner's."""
    return _set_password(account_id, user, body)


@bp.post(USER + "/change_password")
@operation(Permission.USERS_PASSWORD, body=schemas.PasswordSet, answers={204: None}, errors=(409,), tags=TAGS)
def change_password(account_id: uuid.UUID, user: str, body: schemas.PasswordSet) -> Response:
    """The same as POST /users/{user}/password, by seed 001's name."""
    return _set_password(account_id, user, body)


@bp.post(USER + "/reset-mfa")
@operation(Permission.USERS_MFA_RESET, body=schemas.MfaReset, answers={204: None}, errors=(409,), tags=TAGS)
def reset_mfa(account_id: uuid.UUID, user: str, body: schemas.MfaReset) -> Response:
    """Clear the user's second factor and end their sessions (seed 000); the owner's: 422."""
    services.reset_mfa(_user(account_id, user), body.reason, actor=from_request())
    return answer(None, 204)


@bp.post(USER + "/disable")
@operation(Permission.USERS_WRITE, answers={200: schemas.User}, errors=(409, 422), tags=TAGS)
def disable_user(account_id: uuid.UUID, user: str) -> Response:
    """Disable the user: no sign-in, sessions ended, API keys revoked for good. Not the owner nor oneself (422)."""
    found = _user(account_id, user)
    services.disable_user(found, actor=from_request())
    return user_answer(found)


@bp.post(USER + "/enable")
@operation(Permission.USERS_WRITE, answers={200: schemas.User}, errors=(409, 422), tags=TAGS)
def enable_user(account_id: uuid.UUID, user: str) -> Response:
    """Let a disabled user sign in again."""
    found = _user(account_id, user)
    services.enable_user(found, actor=from_request())
    return user_answer(found)


@bp.delete(USER)
@operation(Permission.USERS_WRITE, answers={204: None}, errors=(409, 412, 422), tags=TAGS)
def delete_user(account_id: uuid.UUID, user: str) -> Response:
    """Delete the user with their roles, memberships and sessions. Not the owner nor oneself (422)."""
    found = _user(account_id, user)
    check_version(found)
    services.delete_user(found, actor=from_request())
    return answer(None, 204)
