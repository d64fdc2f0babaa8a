"""Account settings and the two-step transfer of ownership (the owner proposes, the other accepts)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import bindparam, select, update

from portal import db
from portal.actors import Actor
from portal.audit.services import record
from portal.auth.passwords import verify_password
from portal.db import utcnow
from portal.errors import Forbidden, Invalid, NotFound
from portal.mail.notices import security_notice
from portal.models import Account, OwnershipTransfer, Role, RoleAssignment, User

PROPOSAL_VALID_FOR = timedelta(days=7)


def update_settings(account: Account, name: str, sign_in_name: str, require_mfa: bool, *, actor: Actor) -> None:
    """The account's name, its sign-in name (the owner's to change: every bookmark and email link
    uses it) and whether every user must use two-step sign-in."""
    wanted = {"name": name, "sign_in_name": sign_in_name, "require_mfa": require_mfa}
    changes = {k: [getattr(account, k), v] for k, v in wanted.items() if getattr(account, k) != v}
    if "sign_in_name" in changes and not actor.user.is_owner:
        raise Forbidden("Only the owner can change the account's sign-in name.")
    for key, (_old, new) in changes.items():
        setattr(account, key, new)
    if changes:
        record("account.update", account, actor=actor, account_id=account.id, changes=changes)


def admin_role(account_id: uuid.UUID) -> Role:
    """The account's built-in account-admin role."""
    role = db.session.scalar(select(Role).where(Role.account_id == account_id, Role.name == "account-admin"))
    if role is None:  # every account is created with it
        raise NotFound("The account has no account-admin role.")
    return role


def eligible_new_owners(account_id: uuid.UUID) -> list[User]:
    """Active account-admins other than the owner: the people ownership may go to."""
    return list(
        db.session.scalars(
            select(User)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(
                User.account_id == account_id,
                User.status == "active",
                User.is_owner.is_(False),
                RoleAssignment.role_id == admin_role(account_id).id,
            )
            .order_by(User.first_name, User.last_name)
        )
    )


# Built once, bound per call: the users page asks on every load (issue 20).
_PENDING = select(OwnershipTransfer).where(
    OwnershipTransfer.account_id == bindparam("account_id"),
    OwnershipTransfer.status == "pending",
    OwnershipTransfer.expires_at > bindparam("now"),
)


def pending_transfer(account_id: uuid.UUID) -> OwnershipTransfer | None:
    """The account's live proposal, if any."""
    return db.session.scalar(_PENDING, {"account_id": account_id, "now": utcnow()})


def proposed_owner(transfer: OwnershipTransfer | None) -> User | None:
    """Whom the proposal hands the account to (None without a proposal)."""
    return db.session.get(User, transfer.to_user_id) if transfer is not None else None


def propose_transfer(owner: User, new_owner_id: uuid.UUID, current_password: str, *, actor: Actor) -> OwnershipTransfer:
    """Step one: the owner, with their password, proposes an active account-admin."""
    if not owner.is_owner:
        raise Forbidden("Only the owner can hand over the account.")
    if not verify_password(owner.password_hash, current_password):
        raise Invalid("Your current password is not right.")
    candidate = next((u for u in eligible_new_owners(owner.account_id) if u.id == new_owner_id), None)
    if candidate is None:
        raise Invalid("Choose an active account-admin of this account.")
    cancel_transfer(owner, quietly=True, actor=actor)
    proposal = OwnershipTransfer(
        account_id=owner.account_id,
        from_user_id=owner.id,
        to_user_id=candidate.id,
        expires_at=utcnow() + PROPOSAL_VALID_FOR,
    )
    db.session.add(proposal)
    record("account.transfer_propose", candidate, actor=actor)
    security_notice(
        candidate,
        "You are offered the ownership of an account",
        f"{owner.full_name} proposes to make you the owner of the account. Accept or decline it from "
        "your profile page within 7 days.",
    )
    security_notice(
        owner,
        "You proposed to hand over your account",
        f"You proposed to make {candidate.full_name} the owner. Nothing changes until they accept.",
    )
    return proposal


def cancel_transfer(owner: User, quietly: bool = False, *, actor: Actor) -> None:
    """The owner withdraws the live proposal."""
    proposal = pending_transfer(owner.account_id)
    if proposal is None:
        if quietly:
            return
        raise NotFound("There is no proposal to cancel.")
    proposal.status, proposal.decided_at = "cancelled", utcnow()
    if not quietly:
        record("account.transfer_cancel", owner, actor=actor)


def transfer_offered_to(user: User) -> OwnershipTransfer | None:
    """A live proposal made to this user."""
    proposal = pending_transfer(user.account_id)
    return proposal if proposal is not None and proposal.to_user_id == user.id else None


def accept_transfer(user: User, *, actor: Actor) -> None:
    """Step two: the proposed admin accepts; the old owner stays as an account-admin."""
    proposal = transfer_offered_to(user)
    if proposal is None or user not in eligible_new_owners(user.account_id):
        raise NotFound("There is no ownership proposal for you.")
    old_owner = db.session.get(User, proposal.from_user_id)
    if old_owner is None or not old_owner.is_owner:
        raise Invalid("The proposal is out of date.")
    role = admin_role(user.account_id)
    if db.session.get(RoleAssignment, (old_owner.id, role.id)) is None:
        db.session.add(RoleAssignment(user_id=old_owner.id, role_id=role.id, is_default=True))
    # One owner at a time (a unique index): the old one steps down before the new one steps up.
    db.session.execute(update(User).where(User.id == old_owner.id).values(is_owner=False))
    db.session.execute(update(User).where(User.id == user.id).values(is_owner=True))
    db.session.expire(old_owner)
    db.session.expire(user)
    proposal.status, proposal.decided_at = "accepted", utcnow()
    record("account.transfer_accept", user, actor=actor, changes={"from": old_owner.login})
    security_notice(user, "You are now the owner", "You accepted the ownership of the account.")
    security_notice(
        old_owner,
        "Your account has a new owner",
        f"{user.full_name} accepted the ownership. You remain an account-admin.",
    )


def decline_transfer(user: User, *, actor: Actor) -> None:
    """The proposed admin says no."""
    proposal = transfer_offered_to(user)
    if proposal is None:
        raise NotFound("There is no ownership proposal for you.")
    proposal.status, proposal.decided_at = "cancelled", utcnow()
    record("account.transfer_decline", user, actor=actor)
