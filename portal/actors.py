"""Who makes a change: the one `Actor` every service that changes data takes (keyword-only `actor=`), and
the audit log records (portal.audit.services.record requires one).

Each surface makes its own, here and nowhere else:
- a page: the person signed in, with the permissions active in their session (`from_request()`);
- the JSON API: the API key's owner, with the key's permissions, and the key itself (`from_request()`);
- SCIM: the identity provider, a user that is never stored, named "SCIM provisioning" (portal.scim.services);
- a job of the worker: the person who started it, with the permissions it was started with (`for_job()`);
- a person on their own things before anyone is signed in (signing in, a reset link, accepting an invitation,
  single sign-on): `person(user)`, named by the route (a signed-in person's own password, sessions and keys
  take the page's `from_request()`);
- the worker's own sweeps and the operator's commands: `system()`; nobody at all (a failed sign-in): `anonymous()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import g, has_request_context
from flask_login import current_user

from portal.models import ApiKey, User, UserStatus
from portal.permissions import Permission

if TYPE_CHECKING:
    from portal.models import Job

Permissions = frozenset[Permission]

VIAS = ("web", "api", "scim", "cli")
SYSTEM_LABEL = "system"


@dataclass(frozen=True)
class Actor:
    """Who acts, and the permissions active for them.

    `provisioning`: the account's identity provider over SCIM (issue 16). It owns the profiles it
    provisions: it edits people who have not chosen their password yet, and an email it sends is the
    address (the provider has verified it), not a change waiting for the new address to confirm it.
    `via`: how the change came in ("web", "api", "scim", "cli"); None takes the request's (a page: "web").
    `api_key`: the key an API request was made with (the audit event names it).
    """

    user: User
    permissions: Permissions
    provisioning: bool = False
    via: str | None = None
    api_key: ApiKey | None = None

    def __post_init__(self) -> None:
        assert self.via is None or self.via in VIAS, self.via


def _unstored(label: str) -> User:
    return User(login=label, first_name=label, last_name="", email="", status=UserStatus.ACTIVE.value, is_owner=False)


def person(user: User, via: str | None = None) -> Actor:
    """A person acting on their own things while nobody is signed in (their sign-in, a reset link, an
    invitation): no permissions needed."""
    return Actor(user, frozenset(), via=via)


def system(via: str = "cli") -> Actor:
    """The portal itself: the worker's sweeps (expired grants) and the operator's commands. Never stored."""
    return Actor(_unstored(SYSTEM_LABEL), frozenset(Permission), via=via)


def anonymous() -> Actor:
    """Nobody known (a failed sign-in, a bounced confirmation): the audit log shows "anonymous"."""
    return Actor(_unstored(""), frozenset())


def from_request() -> Actor:
    """Who the request acts for: the identity provider (portal.scim sets g.scim_actor), the API key's owner
    (portal.api.auth sets g.api_user and g.api_key), the person signed in, else nobody."""
    assert has_request_context()
    scim_actor: Actor | None = g.get("scim_actor")
    if scim_actor is not None:
        return scim_actor
    permissions: Permissions = g.get("permissions") or frozenset()
    api_user: User | None = g.get("api_user")
    if api_user is not None:
        return Actor(api_user, permissions, via="api", api_key=g.get("api_key"))
    if current_user.is_authenticated:
        return Actor(current_user, permissions)
    return anonymous()


def for_job(job: Job, user: User, permissions: Permissions) -> Actor:
    """A job acts for the person who started it, with the permissions it may still use, and is recorded as
    coming in the way it was started (a page, the API)."""
    return Actor(user, permissions, via=job.params.get("via") or "web")
