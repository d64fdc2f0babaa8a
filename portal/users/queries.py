"""Read side of users: the owner, and the list of everyone else."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from portal import db
from portal.models import User


def owner_of(account_id: uuid.UUID) -> User | None:
    """The account's owner (seed 000 returns the owner apart from the other users)."""
    return db.session.scalars(select(User).where(User.account_id == account_id, User.is_owner)).first()


def first_users(account_id: uuid.UUID, limit: int = 20) -> tuple[list[User], int]:
    """The newest users other than the owner, and how many there are."""
    base = select(User).where(User.account_id == account_id, User.is_owner.is_(False))
    users = db.session.scalars(base.order_by(User.created_at.desc(), User.id).limit(limit)).all()
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    return list(users), total
