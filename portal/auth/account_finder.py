"""Forgot which account: one email to an address listing the accounts that hold it, with their sign-in links."""

from __future__ import annotations

from sqlalchemy import select

from portal import db
from portal.mail.outbox import enqueue, external_url
from portal.models import Account, User, UserStatus


def send_sign_in_links(email: str) -> None:
    """Email the address the sign-in links of the accounts where it signs in; nothing when there are none.

    The answer the person sees is the same either way (SECURITY L3); only the address's owner learns more.
    """
    accounts = db.session.execute(
        select(Account.name, Account.sign_in_name)
        .join(User, User.account_id == Account.id)
        .where(User.email == email.strip().lower(), User.status == UserStatus.ACTIVE.value)
        .order_by(Account.name)
    ).all()
    if not accounts:
        return
    links = [(name, external_url("auth.account_login", sign_in_name=sign_in_name)) for name, sign_in_name in accounts]
    enqueue("sign_in_links", email, "Your Account Portal sign-in links", links=links)
