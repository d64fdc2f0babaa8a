"""State changes on users: create, edit, password, MFA reset, sign out, disable, enable, delete, bulk.

Every action checks the same rules (portal.roles.policy): nobody but the owner acts on the
owner, nobody acts on a user holding permissions they lack, nobody disables or deletes
themselves. Each writes one audit event; none commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from portal import db
from portal.actors import Actor as Actor  # its home is portal.actors; older callers import it from here
from portal.audit.services import record, record_all
from portal.auth import login_sessions, mfa
from portal.auth.passwords import hash_password
from portal.email_changes import services as email_changes
from portal.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from portal.mail.notices import security_notice
from portal.me import credentials
from portal.models import (
    EmailChange,
    Group,
    GroupMember,
    Invitation,
    InvitationStatus,
    Role,
    RoleAssignment,
    User,
    UserStatus,
)
from portal.permissions import Permission
from portal.roles import policy
from portal.uuids import parse_uuids
from portal.versioning import ensure_version, saving, write_all


class InvitedUser(Conflict):
    """The user has not accepted their invitation: only the invitation can be changed (issue 13)."""

    def __init__(self, user: User) -> None:
        super().__init__(
            f"{user.email} has not accepted their invitation yet, so their profile, email and password cannot "
            "be changed. Edit, resend or revoke the invitation instead (Invitations page)."
        )


def _ensure_may_act_on(actor: Actor, target: User) -> None:
    policy.ensure_may_act_on(actor.user, actor.permissions, target)


def ensure_may_edit(user: User, actor: Actor) -> None:
    """Forbidden unless the actor outranks the user; InvitedUser while the user is pending (their address is
    the invitation's, and their sign-in is theirs to choose on accepting)."""
    _ensure_may_act_on(actor, user)
    problem = _invited_problem(user, actor)
    if problem is not None:
        raise problem


def _invited_problem(user: User, actor: Actor) -> InvitedUser | None:
    return InvitedUser(user) if user.status == UserStatus.PENDING and not actor.provisioning else None


def _owner_or_self_problem(actor: Actor, target: User, verb: str) -> Invalid | None:
    if target.is_owner:
        return Invalid(f"The account owner cannot be {verb}d.")
    if target.id == actor.user.id:
        return Invalid(f"You cannot {verb} yourself.")
    return None


def password_context(user: User) -> list[str]:
    """Words a password set for the user must not be built from (SECURITY P4): their login and email."""
    return [user.login, user.email]


def ensure_free(account_id: uuid.UUID, profile: dict[str, str], user_id: uuid.UUID | None = None) -> None:
    """Invalid (naming the field) when the profile's login or email is another user's in the account."""
    from portal.users.queries import taken_problem  # the read side imports nothing of this module

    for column in ("login", "email"):
        value = profile.get(column)
        problem = taken_problem(account_id, column, value, user_id) if value else None
        if problem:
            raise Invalid(problem, field=column)


def _roles_in_account(account_id: uuid.UUID, role_ids: Sequence[str]) -> list[Role]:
    ids = parse_uuids(role_ids)
    if len(ids) < len(role_ids):
        raise NotFound("No such role in this account.")
    if not ids:
        return []
    roles = list(db.session.scalars(select(Role).where(Role.account_id == account_id, Role.id.in_(ids))))
    if len(roles) != len(set(ids)):
        raise NotFound("No such role in this account.")
    return roles


def create_user(
    account_id: uuid.UUID,
    profile: dict[str, str],
    password: str,
    temporary: bool,
    role_ids: Sequence[str],
    groups: Sequence[Group] = (),
    *,
    actor: Actor,
) -> User:
    """A new active user with a password (temporary by default: SECURITY P6), roles and groups: one audit event.

    Setting someone's password takes users:password (P6); granting roles takes roles:write and only roles
    whose permissions the actor holds (A4); joining groups takes groups:write.
    """
    if Permission.USERS_PASSWORD not in actor.permissions:
        raise Forbidden("Creating a user with a password needs the users:password permission.")
    roles = _roles_in_account(account_id, role_ids)
    for role in roles:
        policy.ensure_may_grant(actor.permissions, role)
    if roles and Permission.ROLES_WRITE not in actor.permissions:
        raise Forbidden("Granting roles needs the roles:write permission.")
    if groups and Permission.GROUPS_WRITE not in actor.permissions:
        raise Forbidden("Adding a user to groups needs the groups:write permission.")
    if any(group.account_id != account_id for group in groups):
        raise NotFound("No such group in this account.")
    ensure_free(account_id, profile)
    user = User(
        account_id=account_id,
        status=UserStatus.ACTIVE.value,
        password_hash=hash_password(password),
        must_change_password=temporary,
        **profile,
    )
    db.session.add(user)
    db.session.flush()
    for role in roles:
        db.session.add(RoleAssignment(user_id=user.id, role_id=role.id, is_default=True))
    db.session.add_all(GroupMember(group_id=group.id, user_id=user.id) for group in groups)
    record(
        "user.create",
        user,
        actor=actor,
        changes={
            **{k: v for k, v in profile.items() if v},
            "roles": sorted(r.name for r in roles),
            "password": True,
            **({"groups": sorted(g.name for g in groups)} if groups else {}),
        },
    )
    return user


@dataclass(frozen=True)
class ProfileUpdate:
    """What saving the edit form did: the fields changed now, and the email change opened (pending until
    the new address confirms it), if any."""

    changes: dict[str, Any]
    email_change: EmailChange | None = None


def update_profile(user: User, profile: dict[str, str], expected_version: int | None, *, actor: Actor) -> ProfileUpdate:
    """Save the profile fields that changed; a new email only opens a pending change (SECURITY E1).

    StaleEdit when the user changed since the form was read (`expected_version`; None: the change applies to
    the current version), or between our read and our write: nothing is saved or requested then.
    """
    with saving(user, submitted=profile):
        updates, refusals = update_profiles([ProfileEdit(user, profile, expected_version)], actor=actor)
    raise_refusal(refusals)
    return updates[user.id]


@dataclass(frozen=True)
class ProfileEdit:
    """A profile to save for a user (update_profiles), against the version the editor read (None: the current)."""

    user: User
    profile: dict[str, str]
    expected_version: int | None = None


def _profile_problem(edit: ProfileEdit, fields: dict[str, str], actor: Actor) -> DomainError | None:
    invited = _invited_problem(edit.user, actor)
    if invited is not None:
        return invited
    try:
        ensure_version(edit.user, edit.expected_version, submitted=edit.profile)
        ensure_free(edit.user.account_id, fields, edit.user.id)
    except DomainError as error:
        return error
    return None


def update_profiles(edits: Sequence[ProfileEdit], *, actor: Actor) -> tuple[dict[uuid.UUID, ProfileUpdate], Refusals]:
    """update_profile for a batch (an import's rows): the same checks, one UPDATE sent for the batch's rows
    (portal.versioning.write_all: StaleDataError when one changed meanwhile), one audit event each; an email
    change is requested row by row (its confirmation link is the new address's own)."""
    ranked = policy.refusals_for(actor.user, actor.permissions, [edit.user for edit in edits])
    refusals: Refusals = {}
    planned: list[tuple[ProfileEdit, dict[str, list[Any]]]] = []
    for edit in edits:
        user = edit.user
        fields = {k: v for k, v in edit.profile.items() if k != "email" or actor.provisioning}
        problem = Forbidden(ranked[user.id]) if user.id in ranked else _profile_problem(edit, fields, actor)
        if problem is not None:
            refusals[user.id] = problem
        else:
            planned.append((edit, {k: [getattr(user, k), v] for k, v in fields.items() if getattr(user, k) != v}))
    write_all([(edit.user, {key: new for key, (_old, new) in changes.items()}) for edit, changes in planned])
    updates: dict[uuid.UUID, ProfileUpdate] = {}
    updated: list[tuple[User, dict[str, Any]]] = []
    for edit, changes in planned:
        user, new_email = edit.user, edit.profile.get("email", edit.user.email)
        email_change = None
        if new_email != user.email:  # one audit event for the whole save: the request names the other changes too
            email_change = email_changes.request_change(user, new_email, also_changed=changes, actor=actor)
        elif changes:
            updated.append((user, changes))
        updates[user.id] = ProfileUpdate(changes, email_change)
    record_all("user.update", updated, actor=actor)
    return updates, refusals


def set_password(user: User, password: str, temporary: bool, *, actor: Actor) -> None:
    """An admin sets the user's password (seed 001 ChangeUserPassword); they are signed out everywhere."""
    ensure_may_edit(user, actor)
    if user.is_owner:
        raise Forbidden("Only the owner can change the owner's password, from their own page.")
    from portal.sso.services import password_refusal

    if (refusal := password_refusal(user)) is not None:
        raise Forbidden(refusal)
    user.password_hash = hash_password(password)
    user.must_change_password = temporary
    login_sessions.end_all(user.id)
    record("user.set_password", user, actor=actor, changes={"password": True, "temporary": temporary})
    security_notice(
        user,
        "An administrator set your password",
        f"{actor.user.full_name} set a new password for your sign-in"
        + (". You choose your own when you next sign in." if temporary else "."),
    )


def ensure_may_reset_mfa(user: User, actor: Actor) -> None:
    """Invalid for the owner (seed 000), else the rules of ensure_may_edit."""
    if user.is_owner:
        raise Invalid("The owner's MFA cannot be reset; the owner recovers it with a recovery code.")
    ensure_may_edit(user, actor)


def reset_mfa(user: User, reason: str, *, actor: Actor) -> None:
    """Clear the user's second factor and sign them out everywhere (seed 000; never the owner)."""
    ensure_may_reset_mfa(user, actor)
    mfa.disable(user)
    login_sessions.end_all(user.id)
    record("user.reset_mfa", user, actor=actor, changes={"reason": reason})
    security_notice(
        user,
        "Your two-step sign-in was reset",
        f"{actor.user.full_name} reset your two-step sign-in (MFA). Set it up again when you next sign in.",
    )


Refusals = dict[uuid.UUID, DomainError]
"""What a batch service refused, by user id: the error the single service raises for that user."""


def raise_refusal(refusals: Refusals) -> None:
    """The single service's way: raise the refusal of its one user, if any."""
    for error in refusals.values():
        raise error


def _refusals(actor: Actor, users: Sequence[User], rule: Callable[[User], DomainError | None]) -> Refusals:
    """Each user the actor may not act on (the rank rule, ranked in one query) or whom `rule` refuses."""
    ranked = policy.refusals_for(actor.user, actor.permissions, users)
    refusals: Refusals = {}
    for user in users:
        problem = Forbidden(ranked[user.id]) if user.id in ranked else rule(user)
        if problem is not None:
            refusals[user.id] = problem
    return refusals


def _disable_problem(actor: Actor, user: User) -> DomainError | None:
    problem = _owner_or_self_problem(actor, user, "disable")
    if problem is None and user.status == UserStatus.PENDING and not actor.provisioning:
        return Invalid(f"{user.full_name} has not accepted their invitation; revoke it instead.")
    return problem


def disable_user(user: User, *, actor: Actor) -> None:
    """A disabled user cannot sign in, is signed out everywhere and loses their API keys for good (K1).

    A pending user is disabled only by the identity provider (which deactivates whoever leaves, invited
    or not): their invitation link dies with it. Anyone else revokes the invitation instead."""
    raise_refusal(disable_users([user], actor=actor))


def disable_users(users: Sequence[User], *, actor: Actor) -> Refusals:
    """disable_user for a batch, in a constant number of statements; the refused ones are left as they are."""
    refusals = _refusals(actor, users, lambda user: _disable_problem(actor, user))
    changing = [user for user in users if user.id not in refusals and user.status != UserStatus.DISABLED]
    if not changing:
        return refusals
    ids = [user.id for user in changing]
    login_sessions.end_all_of(ids)
    revoked = credentials.revoke_all_api_keys_of(ids)
    pending = [user.id for user in changing if user.status == UserStatus.PENDING]
    if pending:
        db.session.execute(
            update(Invitation)
            .where(Invitation.user_id.in_(pending), Invitation.status == InvitationStatus.PENDING.value)
            .values(status=InvitationStatus.REVOKED.value, version=Invitation.version + 1)
            .execution_options(synchronize_session=False)
        )
    # The keys' names, under a field name without "key" (the audit log hides the values of those).
    record_all(
        "user.disable",
        (
            (user, {"status": [user.status, "disabled"], "revoked_api_access": revoked.get(user.id, [])})
            for user in changing
        ),
        actor=actor,
    )
    write_all([(user, {"status": UserStatus.DISABLED.value}) for user in changing])
    return refusals


def sign_out_everywhere(user: User, keep: uuid.UUID | None = None, *, actor: Actor) -> int:
    """End all of the user's sessions (the acting person's own current one kept); how many ended."""
    _ensure_may_act_on(actor, user)
    ended = login_sessions.end_all(user.id, keep=keep)
    record("user.sign_out_everywhere", user, actor=actor, changes={"sessions_ended": ended})
    return ended


def _enable_problem(user: User) -> DomainError | None:
    if user.status == UserStatus.PENDING:
        return Invalid(f"{user.full_name} has not accepted their invitation yet.")
    return None


def enable_user(user: User, *, actor: Actor) -> None:
    """A disabled user may sign in again."""
    raise_refusal(enable_users([user], actor=actor))


def enable_users(users: Sequence[User], *, actor: Actor) -> Refusals:
    """enable_user for a batch, in a constant number of statements; the refused ones are left as they are."""
    refusals = _refusals(actor, users, _enable_problem)
    changing = [user for user in users if user.id not in refusals and user.status != UserStatus.ACTIVE]
    record_all("user.enable", ((user, {"status": ["disabled", "active"]}) for user in changing), actor=actor)
    write_all([(user, {"status": UserStatus.ACTIVE.value}) for user in changing])
    return refusals


def delete_user(user: User, *, actor: Actor) -> None:
    """Remove the user; roles, group memberships and sessions go with them."""
    raise_refusal(delete_users([user], actor=actor))


def delete_users(users: Sequence[User], *, actor: Actor) -> Refusals:
    """delete_user for a batch, in a constant number of statements; the refused ones are left as they are."""
    refusals = _refusals(actor, users, lambda user: _owner_or_self_problem(actor, user, "delete"))
    deleting = [user for user in users if user.id not in refusals]
    record_all("user.delete", ((user, {"login": user.login, "email": user.email}) for user in deleting), actor=actor)
    for user in deleting:
        db.session.delete(user)
    return refusals
