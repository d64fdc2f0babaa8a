"""The authorization matrix (issue 4, SECURITY A1/A2): every route × every kind of caller.

MATRIX has one row per route of `app.url_map` ("METHOD endpoint"), and one expected answer per
caller, in the order of CALLERS:

    L  sign in first: 302 to /login?next=… (htmx: 200 with HX-Redirect to it)
    D  denied: 403
    N  not found: 404 (another tenant's account, or ids that are not the caller's)
    A  allowed: the access check let the request through, so any answer but 403, 404, the sign-in
       redirect or a 5xx (the body is empty or invalid, so 200, 303, 400, 401, 409, 422… all count)
    P  passes: like A, but a 404 is fine too (a public page for an unknown token, nothing to cancel)
    K  key only: 401 (the JSON API takes an API key, never a session cookie; tests/routes/test_api.py)

Every request is made with and without HX-Request: htmx never changes the decision. POSTs carry a
valid CSRF token and an empty body; the ids in a URL are real rows of tenant A, made fresh for each
request (ID_FACTORIES, by URL variable name), so that "allowed" is never hidden behind a 404.

Adding a route: add its row to MATRIX (and a factory to ID_FACTORIES for a new URL variable).
The suite fails when a route has no row, or a row has no route.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from portal import db
from portal.db import utcnow
from portal.models import EmailChange, Group, GroupMember, Invitation, RoleAssignment, User, UserStatus
from tests.helpers import PASSWORD, Client, Portal, Tenant, make_role

CALLERS = ("anonymous", "member", "user_manager", "group_manager", "auditor", "admin", "owner", "other_admin")

#                                                    anon mem  um   gm   aud  adm  own  other
MATRIX: dict[str, str] = {
    # Public pages and the layout's assets
    "GET static": "A    A    A    A    A    A    A    A",
    "GET auth.index": "A    A    A    A    A    A    A    A",
    # Probes and the scrape (issue 19): public; /metrics is 404 without METRICS_TOKEN's bearer.
    "GET ops.healthz": "A    A    A    A    A    A    A    A",
    "GET ops.readyz": "A    A    A    A    A    A    A    A",
    "GET ops.metrics": "N    N    N    N    N    N    N    N",
    "GET auth.login": "A    A    A    A    A    A    A    A",
    "POST auth.login": "A    A    A    A    A    A    A    A",
    "GET auth.account_login": "A    A    A    A    A    A    A    A",
    "POST auth.account_login": "A    A    A    A    A    A    A    A",
    "GET auth.find_accounts": "A    A    A    A    A    A    A    A",
    "POST auth.find_accounts": "A    A    A    A    A    A    A    A",
    "GET auth.account_password_reset": "A    A    A    A    A    A    A    A",
    "POST auth.account_password_reset": "A    A    A    A    A    A    A    A",
    "GET auth.signup": "A    A    A    A    A    A    A    A",
    "POST auth.signup": "A    A    A    A    A    A    A    A",
    "POST auth.logout": "L    A    A    A    A    A    A    A",
    "GET auth.login_mfa": "P    P    P    P    P    P    P    P",
    "POST auth.login_mfa": "P    P    P    P    P    P    P    P",
    "GET auth.password_reset": "P    P    P    P    P    P    P    P",
    "POST auth.password_reset": "P    P    P    P    P    P    P    P",
    "GET auth.password_reset_choose": "P    P    P    P    P    P    P    P",
    "GET auth.password_reset_form": "P    P    P    P    P    P    P    P",
    "POST auth.password_reset_form": "P    P    P    P    P    P    P    P",
    "GET invitation_accept.accept": "P    P    P    P    P    P    P    P",
    "POST invitation_accept.accept": "P    P    P    P    P    P    P    P",
    "GET email_change.open_link": "A    A    A    A    A    A    A    A",  # to the page
    "GET email_change.confirm": "P    P    P    P    P    P    P    P",  # 410: no link
    "POST email_change.confirm": "P    P    P    P    P    P    P    P",
    # Signing in through the account's identity provider (issue 21): public; 400 pages without a connection
    "GET sso.start_page": "P    P    P    P    P    P    P    P",  # 404: no SSO
    "POST sso.start": "A    A    A    A    A    A    A    A",
    "GET sso.callback": "A    A    A    A    A    A    A    A",
    "GET sso.link": "A    A    A    A    A    A    A    A",
    "POST sso.link": "A    A    A    A    A    A    A    A",
    # Self-service (/me): anyone signed in; a role of another account is not theirs (404)
    "GET me.roles": "L    A    A    A    A    A    A    A",
    "POST me.activate_role": "L    A    A    A    A    A    A    N",
    "POST me.deactivate_role": "L    A    A    A    A    A    A    N",
    # The JSON API answers API keys only (tests/routes/test_api_authorization_matrix.py has the keys' matrix):
    # every cookie caller gets 401; its reference and OpenAPI document are public.
    "GET api_docs.docs": "A    A    A    A    A    A    A    A",
    "GET api_docs.openapi": "A    A    A    A    A    A    A    A",
    # SCIM takes the account's provisioning token only (tests/scim): a cookie there is nobody: 401.
    "GET scim.base": "K    K    K    K    K    K    K    K",
    "GET scim.service_provider_config": "K    K    K    K    K    K    K    K",
    "GET scim.resource_types": "K    K    K    K    K    K    K    K",
    "GET scim.resource_type": "K    K    K    K    K    K    K    K",
    "GET scim.schemas": "K    K    K    K    K    K    K    K",
    "GET scim.schema": "K    K    K    K    K    K    K    K",
    "GET scim.users": "K    K    K    K    K    K    K    K",
    "POST scim.create_user": "K    K    K    K    K    K    K    K",
    "GET scim.user": "K    K    K    K    K    K    K    K",
    "PUT scim.replace_user": "K    K    K    K    K    K    K    K",
    "PATCH scim.patch_user": "K    K    K    K    K    K    K    K",
    "DELETE scim.delete_user": "K    K    K    K    K    K    K    K",
    "GET scim.groups": "K    K    K    K    K    K    K    K",
    "POST scim.groups": "K    K    K    K    K    K    K    K",
    "POST scim.users": "K    K    K    K    K    K    K    K",
    "POST scim.search_everything": "K    K    K    K    K    K    K    K",
    "POST scim.create_group": "K    K    K    K    K    K    K    K",
    "GET scim.group": "K    K    K    K    K    K    K    K",
    "PUT scim.replace_group": "K    K    K    K    K    K    K    K",
    "PATCH scim.patch_group": "K    K    K    K    K    K    K    K",
    "DELETE scim.delete_group": "K    K    K    K    K    K    K    K",
    "GET accounts.provisioning.show": "L    D    D    D    D    A    A    N",
    "POST accounts.provisioning.make": "L    D    D    D    D    A    A    N",
    "POST accounts.provisioning.rotate": "L    D    D    D    D    A    A    N",
    "POST accounts.provisioning.revoke": "L    D    D    D    D    A    A    N",
    "POST api_v1.add_members": "K    K    K    K    K    K    K    K",
    "POST api_v1.change_password": "K    K    K    K    K    K    K    K",
    "POST api_v1.create_group": "K    K    K    K    K    K    K    K",
    "POST api_v1.create_invitations": "K    K    K    K    K    K    K    K",
    "POST api_v1.create_role": "K    K    K    K    K    K    K    K",
    "POST api_v1.create_user": "K    K    K    K    K    K    K    K",
    "DELETE api_v1.delete_group": "K    K    K    K    K    K    K    K",
    "DELETE api_v1.delete_role": "K    K    K    K    K    K    K    K",
    "DELETE api_v1.delete_user": "K    K    K    K    K    K    K    K",
    "POST api_v1.disable_user": "K    K    K    K    K    K    K    K",
    "POST api_v1.enable_user": "K    K    K    K    K    K    K    K",
    "GET api_v1.get_group": "K    K    K    K    K    K    K    K",
    "GET api_v1.get_invitation": "K    K    K    K    K    K    K    K",
    "GET api_v1.get_member": "K    K    K    K    K    K    K    K",
    "GET api_v1.get_role": "K    K    K    K    K    K    K    K",
    "GET api_v1.get_user": "K    K    K    K    K    K    K    K",
    "GET api_v1.list_events": "K    K    K    K    K    K    K    K",
    "GET api_v1.list_groups": "K    K    K    K    K    K    K    K",
    "GET api_v1.list_invitations": "K    K    K    K    K    K    K    K",
    "GET api_v1.list_members": "K    K    K    K    K    K    K    K",
    "GET api_v1.list_permissions": "K    K    K    K    K    K    K    K",
    "GET api_v1.list_roles": "K    K    K    K    K    K    K    K",
    "GET api_v1.list_users": "K    K    K    K    K    K    K    K",
    "GET api_v1.me": "K    K    K    K    K    K    K    K",
    "DELETE api_v1.remove_member": "K    K    K    K    K    K    K    K",
    "PUT api_v1.replace_members": "K    K    K    K    K    K    K    K",
    "PUT api_v1.replace_user_roles": "K    K    K    K    K    K    K    K",
    "POST api_v1.grant_user_role": "K    K    K    K    K    K    K    K",
    "POST api_v1.create_import": "K    K    K    K    K    K    K    K",
    "GET api_v1.get_job": "K    K    K    K    K    K    K    K",
    "GET api_v1.job_report": "K    K    K    K    K    K    K    K",
    "POST api_v1.resend_invitation": "K    K    K    K    K    K    K    K",
    "POST api_v1.resend_invitation_of_user": "K    K    K    K    K    K    K    K",
    "POST api_v1.reset_mfa": "K    K    K    K    K    K    K    K",
    "DELETE api_v1.revoke_invitation": "K    K    K    K    K    K    K    K",
    "POST api_v1.set_password": "K    K    K    K    K    K    K    K",
    "PATCH api_v1.update_group": "K    K    K    K    K    K    K    K",
    "PATCH api_v1.update_invitation": "K    K    K    K    K    K    K    K",
    "PATCH api_v1.update_role": "K    K    K    K    K    K    K    K",
    "PATCH api_v1.update_user": "K    K    K    K    K    K    K    K",
    "GET me.profile": "L    A    A    A    A    A    A    A",
    "POST me.profile": "L    A    A    A    A    A    A    A",
    "GET me.password": "L    A    A    A    A    A    A    A",
    "POST me.password": "L    A    A    A    A    A    A    A",
    "GET me.mfa_page": "L    A    A    A    A    A    A    A",
    "POST me.mfa_confirm": "L    A    A    A    A    A    A    A",
    "POST me.mfa_disable": "L    A    A    A    A    A    A    A",
    "POST me.mfa_recovery_codes": "L    A    A    A    A    A    A    A",
    "GET me.reauth": "L    A    A    A    A    A    A    A",
    "POST me.reauth": "L    A    A    A    A    A    A    A",
    "POST me.reauth_sso": "L    A    A    A    A    A    A    A",  # 409: not linked
    "GET me.sessions": "L    A    A    A    A    A    A    A",
    "POST me.end_session": "L    N    N    N    N    N    A    N",  # the owner's session
    "POST me.end_other_sessions": "L    A    A    A    A    A    A    A",
    "GET me.api_keys": "L    A    A    A    A    A    A    A",
    "POST me.create_api_key": "L    A    A    A    A    A    A    A",
    "GET me.confirm_revoke_api_key": "L    N    N    N    N    N    A    N",  # the owner's key
    "POST me.revoke_api_key": "L    N    N    N    N    N    A    N",  # the owner's key
    "POST me.accept_ownership": "L    N    N    N    N    N    N    N",  # nothing offered
    "POST me.decline_ownership": "L    N    N    N    N    N    N    N",
    "POST me.cancel_email_change": "L    N    N    N    N    N    N    N",  # nothing pending
    # The account: settings need account:manage; the ownership transfer is the owner's alone
    "GET accounts.settings": "L    D    D    D    D    A    A    N",
    "POST accounts.settings": "L    D    D    D    D    A    A    N",
    "GET accounts.transfer": "L    D    D    D    D    D    A    N",
    "POST accounts.propose_transfer": "L    D    D    D    D    D    A    N",
    "POST accounts.cancel_transfer": "L    D    D    D    D    D    P    N",  # 404: none pending
    # Single sign-on settings (issue 21): account:manage; with no connection yet most actions answer 409
    "GET accounts.sso.show": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.save": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.test": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.reauth": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.activate": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.deactivate": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.require_sso": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.recovery_codes": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.unrequire": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.admin_groups": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.add_mapping": "L    D    D    D    D    A    A    N",
    "POST accounts.sso.remove_mapping": "L    D    D    D    D    P    P    N",  # 404: none
    "POST accounts.sso.unlink": "L    D    D    D    D    A    A    N",
    # Users: users:read, users:write, users:password, users:mfa_reset
    "GET accounts.users.index": "L    D    A    A    A    A    A    N",
    "GET accounts.users.export": "L    D    A    A    A    A    A    N",
    "GET accounts.users.show": "L    D    A    A    A    A    A    N",
    "GET accounts.users.by_login": "L    D    A    A    A    A    A    N",
    "GET accounts.users.new": "L    D    A    D    D    A    A    N",
    # Import (issue 18): users:write
    "GET accounts.users.import_page": "L    D    A    D    D    A    A    N",
    "POST accounts.users.start_import": "L    D    A    D    D    A    A    N",
    "GET accounts.users.import_template": "L    D    A    D    D    A    A    N",
    # Jobs (issue 18): users:read to follow them, users:write to cancel; a bulk job has no file (404)
    "GET accounts.jobs.index": "L    D    A    A    A    A    A    N",
    "GET accounts.jobs.show": "L    D    A    A    A    A    A    N",
    "GET accounts.jobs.report": "L    D    A    A    A    A    A    N",
    "GET accounts.jobs.download": "L    D    P    P    P    P    P    N",
    "POST accounts.jobs.cancel": "L    D    A    D    D    A    A    N",
    "POST accounts.users.create": "L    D    A    D    D    A    A    N",
    "GET accounts.users.edit": "L    D    A    D    D    A    A    N",
    "POST accounts.users.edit": "L    D    A    D    D    A    A    N",
    "GET accounts.users.confirm_delete": "L    D    A    D    D    A    A    N",
    "POST accounts.users.delete": "L    D    A    D    D    A    A    N",
    "DELETE accounts.users.delete_by_verb": "L    D    A    D    D    A    A    N",
    "GET accounts.users.confirm_disable": "L    D    A    D    D    A    A    N",
    "POST accounts.users.disable": "L    D    A    D    D    A    A    N",
    "POST accounts.users.enable": "L    D    A    D    D    A    A    N",
    "POST accounts.users.sign_out": "L    D    A    D    D    A    A    N",
    "POST accounts.users.bulk": "L    D    A    D    D    A    A    N",
    "GET accounts.users.password": "L    D    A    D    D    A    A    N",
    "POST accounts.users.password": "L    D    A    D    D    A    A    N",
    "GET accounts.users.reset_mfa": "L    D    A    D    D    A    A    N",
    "POST accounts.users.reset_mfa": "L    D    A    D    D    A    A    N",
    "POST accounts.users.cancel_email_change": "L    D    A    D    D    A    A    N",  # the target's
    "POST accounts.audit.clear_lockout": "L    D    D    D    D    D    A    N",  # the owner's
    # The audit log: audit:read
    "GET accounts.audit.index": "L    D    D    D    A    A    A    N",
    "GET accounts.audit.export": "L    D    D    D    A    A    A    N",
    # A user's roles: reading needs users:read and roles:read; changing needs roles:write
    "GET accounts.user_roles.index": "L    D    A    D    A    A    A    N",
    "POST accounts.user_roles.add": "L    D    D    D    D    A    A    N",
    "POST accounts.user_roles.remove": "L    D    D    D    D    A    A    N",
    "POST accounts.user_roles.toggle_default": "L    D    D    D    D    A    A    N",
    # Roles: roles:read, roles:write
    "GET accounts.roles.index": "L    D    A    D    A    A    A    N",
    "GET accounts.roles.show": "L    D    A    D    A    A    A    N",
    "GET accounts.roles.new": "L    D    D    D    D    A    A    N",
    "POST accounts.roles.create": "L    D    D    D    D    A    A    N",
    "GET accounts.roles.edit": "L    D    D    D    D    A    A    N",
    "POST accounts.roles.update": "L    D    D    D    D    A    A    N",
    "GET accounts.roles.confirm_delete": "L    D    D    D    D    A    A    N",
    "POST accounts.roles.delete": "L    D    D    D    D    A    A    N",
    # Invitations: invitations:read, invitations:write
    "GET accounts.invitations.index": "L    D    A    D    A    A    A    N",
    "GET accounts.invitations.new": "L    D    A    D    D    A    A    N",
    "POST accounts.invitations.create": "L    D    A    D    D    A    A    N",
    "GET accounts.invitations.edit": "L    D    A    D    D    A    A    N",
    "POST accounts.invitations.edit": "L    D    A    D    D    A    A    N",
    "POST accounts.invitations.resend": "L    D    A    D    D    A    A    N",
    "POST accounts.invitations.retry": "L    D    A    D    D    A    A    N",
    "GET accounts.invitations.confirm_revoke": "L    D    A    D    D    A    A    N",
    "POST accounts.invitations.revoke": "L    D    A    D    D    A    A    N",
    # The outbox: the owner only (the route needs account:manage, and then the owner)
    "GET accounts.outbox.index": "L    D    D    D    D    D    A    N",
    # Groups: groups:read, groups:write
    "GET accounts.groups.index": "L    D    A    A    A    A    A    N",
    "GET accounts.groups.show": "L    D    A    A    A    A    A    N",
    "GET accounts.groups.members": "L    D    A    A    A    A    A    N",
    "GET accounts.groups.member": "L    D    A    A    A    A    A    N",
    "GET accounts.groups.candidates": "L    D    D    A    D    A    A    N",
    "GET accounts.groups.new": "L    D    D    A    D    A    A    N",
    "POST accounts.groups.create": "L    D    D    A    D    A    A    N",
    "GET accounts.groups.edit": "L    D    D    A    D    A    A    N",
    "POST accounts.groups.edit": "L    D    D    A    D    A    A    N",
    "GET accounts.groups.delete": "L    D    D    A    D    A    A    N",
    "POST accounts.groups.delete": "L    D    D    A    D    A    A    N",
    "POST accounts.groups.add_members": "L    D    D    A    D    A    A    N",
    "GET accounts.groups.replace_members_form": "L    D    D    A    D    A    A    N",
    "POST accounts.groups.replace_members": "L    D    D    A    D    A    A    N",
    "GET accounts.groups.confirm_remove_member": "L    D    D    A    D    A    A    N",
    "POST accounts.groups.remove_member": "L    D    D    A    D    A    A    N",
    "DELETE accounts.groups.delete_member": "L    D    D    A    D    A    A    N",
}

# Requests after which the caller is signed out: they get a client of their own.
SIGNS_OUT = {"POST auth.logout"}


# --- The world the requests run in ---------------------------------------------------------------


@dataclass
class Case:
    """One request's context: tenant A, the caller, and the ids made for it so far."""

    portal: Portal
    tenant: Tenant
    caller: User | None
    made: dict[str, Any] = field(default_factory=dict)

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self.made:
            with self.portal.app.app_context():
                self.made[name] = make()
                db.session.commit()
        return self.made[name]


def _target(case: Case) -> User:
    """A fresh user of tenant A with no role (anyone who may act on users may act on them), with a pending
    email change (so that cancelling it is allowed, not a 404)."""

    def make() -> User:
        user = User(
            account_id=case.tenant.id,
            login=f"t-{secrets.token_hex(4)}",
            password_hash=None,
            email=f"t-{secrets.token_hex(4)}@example.com",
            first_name="Target",
        )
        db.session.add(user)
        db.session.flush()
        db.session.add(
            EmailChange(
                account_id=case.tenant.id,
                user_id=user.id,
                new_email=f"n-{user.email}",
                token_hash=secrets.token_hex(32),
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
        db.session.flush()
        return user

    return case.once("target", make)  # type: ignore[no-any-return]


def _role(case: Case) -> Any:
    """A fresh custom role without permissions, held by the target and (inactive) by the caller."""

    def make() -> Any:
        holders = [_target(case)]
        if case.caller is not None and case.caller.account_id == case.tenant.id:
            holders.append(case.caller)
        role = make_role(case.portal, case.tenant.account, f"Matrix {secrets.token_hex(4)}", holders=(holders[0],))
        for holder in holders[1:]:
            db.session.add(RoleAssignment(user_id=holder.id, role_id=role.id, is_default=False))
        return role

    return case.once("role", make)


def _group(case: Case) -> Group:
    def make() -> Group:
        group = Group(account_id=case.tenant.id, name=f"Matrix {secrets.token_hex(4)}")
        db.session.add(group)
        db.session.flush()
        return group

    return case.once("group", make)  # type: ignore[no-any-return]


def _member(case: Case) -> GroupMember:
    def make() -> GroupMember:
        member = GroupMember(group_id=_group(case).id, user_id=_target(case).id)
        db.session.add(member)
        db.session.flush()
        return member

    return case.once("member", make)  # type: ignore[no-any-return]


def _invitation(case: Case) -> Invitation:
    def make() -> Invitation:
        now = utcnow()
        user = User(
            account_id=case.tenant.id,
            login=f"i-{secrets.token_hex(4)}",
            password_hash=None,
            email=f"i-{secrets.token_hex(4)}@example.com",
            status=UserStatus.PENDING.value,
        )
        db.session.add(user)
        db.session.flush()
        invitation = Invitation(
            account_id=case.tenant.id,
            user_id=user.id,
            email=user.email,
            token_hash=secrets.token_hex(32),
            expires_at=now + timedelta(days=7),
            invited_by_id=case.tenant.owner.id,
            last_sent_at=now,
        )
        db.session.add(invitation)
        db.session.flush()
        return invitation

    return case.once("invitation", make)  # type: ignore[no-any-return]


def _owner_session(case: Case) -> Any:
    def make() -> Any:
        from portal.models import LoginSession

        row = LoginSession(user_id=case.tenant.owner.id, token_hash=secrets.token_hex(32))
        db.session.add(row)
        db.session.flush()
        return row.id

    return case.once("session", make)


def _provisioning_token(case: Case) -> Any:
    def make() -> Any:
        from portal.models import ProvisioningToken

        row = ProvisioningToken(account_id=case.tenant.id, prefix="scim_x", token_hash=secrets.token_hex(32))
        db.session.add(row)
        db.session.flush()
        return row.id

    return case.once("provisioning_token", make)


def _owner_key(case: Case) -> Any:
    def make() -> Any:
        from portal.models import ApiKey

        row = ApiKey(user_id=case.tenant.owner.id, name="owner's", prefix="ap_x", key_hash=secrets.token_hex(32))
        db.session.add(row)
        db.session.flush()
        return row.id

    return case.once("key", make)


def _job(case: Case) -> uuid.UUID:
    """A queued bulk job of tenant A, started by its owner."""

    def make() -> uuid.UUID:
        from portal.models import Job

        job = Job(
            account_id=case.tenant.id,
            kind="bulk_users",
            title="Enable",
            started_by_id=case.tenant.owner.id,
            params={"action": "enable", "user_ids": []},
        )
        db.session.add(job)
        db.session.flush()
        return job.id

    return case.once("job", make)


# The value of each URL variable, by name.
ID_FACTORIES: dict[str, Callable[[Case], str]] = {
    "account_id": lambda case: str(case.tenant.id),
    "sign_in_name": lambda case: case.tenant.account.sign_in_name,
    "user_id": lambda case: str(_target(case).id),
    "login": lambda case: _target(case).login,
    "user": lambda case: str(_target(case).id),  # the JSON API's user: an id or a login
    "role_id": lambda case: str(_role(case).id),
    "group_id": lambda case: str(_group(case).id),
    "member_id": lambda case: str(_member(case).id),
    "invitation_id": lambda case: str(_invitation(case).id),
    "token": lambda _case: secrets.token_urlsafe(32),
    "token_id": lambda case: str(_provisioning_token(case)),
    "name": lambda _case: "User",
    "urn": lambda _case: "urn:ietf:params:scim:schemas:core:2.0:User",
    "filename": lambda _case: "portal.css",
    # Someone else's session and key: the owner's (tenant A), never the caller's own.
    "session_id": lambda case: str(_owner_session(case)),
    "key_id": lambda case: str(_owner_key(case)),
    "mapping_id": lambda _case: str(uuid.uuid4()),  # no such SSO group mapping: 404 to those allowed
    "job_id": lambda case: str(_job(case)),
}


def _routes(app: Flask) -> list[tuple[str, Rule, str]]:
    """Every (row key, rule, method) of the app."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((f"{method} {rule.endpoint}", rule, method))
    return sorted(found, key=lambda item: item[0])


def _url(rule: Rule, case: Case) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in ID_FACTORIES, f"add a factory for the URL variable <{name}> to ID_FACTORIES"
        return ID_FACTORIES[name](case)

    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", value, rule.rule)


def _expected(key: str, caller: str) -> str:
    return MATRIX[key].split()[CALLERS.index(caller)]


def _send(client: Client, method: str, url: str, hx: bool, token: str | None) -> TestResponse:
    headers = {"HX-Request": "true"} if hx else {}
    if method == "GET":
        return client.raw.get(url, headers=headers)
    headers["X-CSRFToken"] = token or ""
    return client.raw.open(url, method=method, headers=headers, data={"csrf_token": token or ""})


def _is_sign_in_redirect(response: TestResponse, hx: bool) -> bool:
    location = response.headers.get("HX-Redirect" if hx else "Location", "")
    parts = urlsplit(location)
    wanted_status = 200 if hx else 302
    return response.status_code == wanted_status and parts.path == "/login" and parts.query.startswith("next=")


def _verdict(expected: str, response: TestResponse, hx: bool) -> bool:
    status = response.status_code
    if status >= 500:
        return False
    if expected == "L":
        return _is_sign_in_redirect(response, hx)
    if expected == "D":
        return status == 403
    if expected == "N":
        return status == 404
    if expected == "K":  # the JSON API: a session cookie is never enough, only an API key
        return status == 401
    denied = status == 403 or _is_sign_in_redirect(response, hx)
    if expected == "P":
        return not denied
    assert expected == "A", f"unknown class {expected!r}"
    return not denied and status != 404


@dataclass
class World:
    portal: Portal
    tenant: Tenant
    other: Tenant

    def user(self, caller: str) -> User | None:
        if caller == "anonymous":
            return None
        if caller == "other_admin":
            return self.other.admin
        if caller == "owner":
            return self.tenant.owner
        return getattr(self.tenant, caller)  # type: ignore[no-any-return]

    def client(self, caller: str) -> Client:
        user = self.user(caller)
        return self.portal.client(user, PASSWORD) if user is not None else self.portal.client()


# --- The tests -----------------------------------------------------------------------------------


def test_every_route_has_a_row(app: Flask) -> None:
    missing = [f"{key}  ({rule.rule})" for key, rule, _ in _routes(app) if key not in MATRIX]
    assert not missing, "routes without a row in MATRIX:\n" + "\n".join(missing)


def test_every_row_has_a_route(app: Flask) -> None:
    keys = {key for key, _, _ in _routes(app)}
    assert not sorted(set(MATRIX) - keys), "rows without a route"


def test_rows_are_well_formed() -> None:
    for key, row in MATRIX.items():
        classes = row.split()
        assert len(classes) == len(CALLERS) and set(classes) <= set("LDNAPK"), key


@pytest.mark.parametrize("caller", CALLERS)
def test_matrix(app: Flask, portal: Portal, caller: str) -> None:
    """A2: each route answers this caller as the table says, with and without HX-Request."""
    world = World(portal, portal.tenant("A"), portal.tenant("B"))
    client = world.client(caller)
    token = client.csrf()
    failures = []
    for key, rule, method in _routes(app):
        if key not in MATRIX:
            continue  # test_every_route_has_a_row reports it
        expected = _expected(key, caller)
        for hx in (False, True):
            this_client, this_token = client, token
            if key in SIGNS_OUT:
                this_client = world.client(caller)
                this_token = this_client.csrf()
            case = Case(portal, world.tenant, world.user(caller))
            url = _url(rule, case)
            response = _send(this_client, method, url, hx, this_token)
            response.get_data()  # read streamed bodies (the CSV export) to the end
            response.close()
            if not _verdict(expected, response, hx):
                failures.append(
                    f"{key} {'HX ' if hx else ''}{url}: expected {expected}, got "
                    f"{response.status_code} {response.headers.get('Location', '')}"
                    f"{response.headers.get('HX-Redirect', '')}"
                )
    assert not failures, f"{caller}:\n" + "\n".join(failures)
