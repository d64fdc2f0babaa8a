"""SCIM writes, made of the portal's own services (users, invitations, groups): the identity provider acts
as "SCIM provisioning" with users:read/write and groups:read/write, so the rank rules of the pages hold (the
owner, and anyone holding more, cannot be changed: 403) and it never grants a role.

A request's body is read into the portal's fields here; PUT and PATCH both end as "make the user look like
this" (PATCH applies its operations to the user's current SCIM form first), so one path does the change.
"""

from __future__ import annotations

import copy
import functools
import uuid
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from flask import g
from scim2_models import Path
from scim2_models.path import AttrPath, ValuePath
from sqlalchemy import select

from portal import db
from portal.actors import Actor
from portal.audit.services import one_event
from portal.errors import Forbidden
from portal.field_rules import PROFILE_LIMITS, email_problem, login_problem
from portal.groups import services as groups
from portal.groups.services import name_problem
from portal.invitations import services as invitations
from portal.models import Account, Group, GroupMember, User, UserStatus
from portal.permissions import Permission
from portal.scim.errors import ScimError
from portal.scim.filters import ENTERPRISE_URN, GROUP_URN, USER_URN
from portal.scim.resources import user_resource
from portal.users import queries as user_queries
from portal.users import services as users
from portal.uuids import parse_uuid
from portal.versioning import touch

PERMISSIONS = frozenset(
    {Permission.USERS_READ, Permission.USERS_WRITE, Permission.GROUPS_READ, Permission.GROUPS_WRITE}
)
ACTOR_LABEL = "SCIM provisioning"
EXTERNAL_ID_MAX = 255


def actor_for(account: Account) -> Actor:
    """The identity provider as an actor: a user that is never stored (no id), named "SCIM provisioning"
    (kept in g, where portal.actors.from_request finds it)."""
    actor: Actor | None = g.get("scim_actor")
    if actor is None:
        user = User(
            account_id=account.id,
            login=ACTOR_LABEL,
            first_name=ACTOR_LABEL,
            email="",
            status=UserStatus.ACTIVE.value,
            is_owner=False,
        )
        actor = Actor(user, PERMISSIONS, provisioning=True, via="scim")
        g.scim_actor = actor
    return actor


P = ParamSpec("P")
R = TypeVar("R")


def one_change(function: Callable[P, R]) -> Callable[P, R]:
    """A SCIM request is one change: whatever services it takes, it writes one audit event (via=scim), or
    none when it changed nothing."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with one_event():
            return function(*args, **kwargs)

    return wrapper


def bad(detail: str, scim_type: str = "invalidValue", status: int = 400) -> ScimError:
    return ScimError(status, detail, scim_type)


# --- reading bodies -------------------------------------------------------------------------------------


def boolean(value: Any, name: str = "active") -> bool:
    """A boolean as providers send it: true, or "True" / "False" (Entra ID)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise bad(f"{name} must be true or false.")


def _text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad(f"{name} must be a string.")
    text: str = value.strip()
    if "\x00" in text:
        raise bad(f"{name} must not contain NUL characters.")
    if len(text) > limit:
        raise bad(f"{name} may be at most {limit} characters long.")
    return text


def _pick(items: Any, name: str) -> dict[str, Any]:
    """The primary item of a multi-valued attribute, else the first of type work, else the first."""
    if items is None:
        return {}
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise bad(f"{name} must be a list of objects.")
    objects: list[dict[str, Any]] = items
    for item in objects:
        if item.get("primary") is True or str(item.get("primary")).lower() == "true":
            return item
    return next((i for i in objects if str(i.get("type", "")).lower() == "work"), objects[0] if objects else {})


def _lower_keys(resource: dict[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in resource.items()}


def user_fields(resource: dict[str, Any]) -> tuple[dict[str, Any], bool | None]:
    """The portal's fields of a SCIM User (SCIM.md's mapping), and its `active` (None when absent)."""
    body = _lower_keys(resource)
    login = _text(body.get("username"), "userName", 1000).lower()
    if not login:
        raise bad("userName is required.")
    problem = login_problem(login)
    if problem:
        raise bad(f"userName: {problem}")
    email = _text(_pick(body.get("emails"), "emails").get("value"), "emails.value", 1000).lower()
    if not email and "@" in login:
        email = login  # a provider that sends only a UPN-like userName
    if not email:
        raise bad("An email address is required (emails).")
    problem = email_problem(email)
    if problem:
        raise bad(f"emails.value: {problem}")
    name = body.get("name") or {}
    if not isinstance(name, dict):
        raise bad("name must be an object.")
    name = _lower_keys(name)
    address = _lower_keys(_pick(body.get("addresses"), "addresses"))
    enterprise = _lower_keys(body.get(ENTERPRISE_URN.lower()) or {})
    fields: dict[str, Any] = {
        "login": login,
        "email": email,
        "first_name": _text(name.get("givenname"), "name.givenName", PROFILE_LIMITS["first_name"]),
        "last_name": _text(name.get("familyname"), "name.familyName", PROFILE_LIMITS["last_name"]),
        "phone": _text(
            _pick(body.get("phonenumbers"), "phoneNumbers").get("value"), "phoneNumbers.value", PROFILE_LIMITS["phone"]
        ),
        "address": _text(address.get("streetaddress"), "addresses.streetAddress", PROFILE_LIMITS["address"]),
        "postal_code": _text(address.get("postalcode"), "addresses.postalCode", PROFILE_LIMITS["postal_code"]),
        "city": _text(address.get("locality"), "addresses.locality", PROFILE_LIMITS["city"]),
        "state": _text(address.get("region"), "addresses.region", PROFILE_LIMITS["state"]),
        "country": _text(address.get("country"), "addresses.country", PROFILE_LIMITS["country"]),
        "company_name": _text(enterprise.get("organization"), "organization", PROFILE_LIMITS["company_name"]),
    }
    external_id = body.get("externalid")
    fields["external_id"] = _text(external_id, "externalId", EXTERNAL_ID_MAX) or None
    active = boolean(body["active"]) if body.get("active") is not None else None
    return fields, active


def _ensure_unique(account_id: uuid.UUID, fields: dict[str, Any], user_id: uuid.UUID | None = None) -> None:
    for column in ("login", "email"):
        problem = user_queries.taken_problem(account_id, column, fields[column], user_id)
        if problem:
            name = "userName" if column == "login" else "emails.value"
            raise bad(f"{name}: {problem}", "uniqueness", 409)
    if fields.get("external_id") is not None:
        taken = select(User.id).where(User.account_id == account_id, User.external_id == fields["external_id"])
        if user_id is not None:
            taken = taken.where(User.id != user_id)
        if db.session.scalar(taken.limit(1)) is not None:
            raise bad("externalId: another user of this account has it.", "uniqueness", 409)


# --- users ----------------------------------------------------------------------------------------------


@one_change
def create_user(account: Account, resource: dict[str, Any]) -> User:
    """POST /Users: a pending user who is emailed a link to choose their password (no roles)."""
    fields, active = user_fields(resource)
    _ensure_unique(account.id, fields)
    actor = actor_for(account)
    profile = {k: v for k, v in fields.items() if v is not None}
    user = invitations.provision(account, profile, actor=actor)
    if active is False:
        users.disable_user(user, actor=actor)
    return user


def _ensure_not_owner(user: User) -> None:
    if user.is_owner:
        raise Forbidden("The account owner is listed, but never changed through SCIM.")


@one_change
def replace_user(account: Account, user: User, resource: dict[str, Any]) -> None:
    """PUT /Users/{id}, and what PATCH ends as: the user takes the resource's values (absent ones cleared)."""
    _ensure_not_owner(user)
    fields, active = user_fields(resource)
    _ensure_unique(account.id, fields, user.id)
    actor = actor_for(account)
    users.update_profile(user, fields, expected_version=None, actor=actor)
    if active is False and user.status != UserStatus.DISABLED:
        users.disable_user(user, actor=actor)
    elif active is True and user.status == UserStatus.DISABLED:
        if user.password_hash is None:  # never chose a password: a new link to choose one
            invitations.invite_again(user, account, actor=actor)
        else:
            users.enable_user(user, actor=actor)


@one_change
def delete_user(account: Account, user: User) -> None:
    """DELETE /Users/{id}."""
    _ensure_not_owner(user)
    users.delete_user(user, actor=actor_for(account))


# --- PATCH ----------------------------------------------------------------------------------------------


def _operations(body: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
    """The PatchOp's operations as (op lower-cased, path, value): "Replace" and "replace" alike."""
    if not isinstance(body, dict):
        raise bad("The body must be a PatchOp object.", "invalidSyntax")
    operations = body.get("Operations", body.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise bad("A PatchOp needs a list of Operations.", "invalidSyntax")
    result = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise bad("Each operation must be an object.", "invalidSyntax")
        operation = _lower_keys(operation)
        op = str(operation.get("op", "")).lower()
        if op not in {"add", "replace", "remove"}:
            raise bad(f"Unknown op {operation.get('op')!r}: add, replace or remove.", "invalidSyntax")
        path = operation.get("path")
        if path is not None and not isinstance(path, str):
            raise bad("path must be a string.", "invalidPath")
        if op == "remove" and not path and "value" not in operation:
            raise bad("remove needs a path.", "noTarget")
        result.append((op, path or None, operation.get("value")))
    return result


def _parse_path(text: str, urns: tuple[str, ...]) -> tuple[str | None, str, str | None, Any]:
    """(URN or None, attribute, sub-attribute, value filter or None) of a PATCH path."""
    try:
        node = Path(text).ast
    except Exception as error:  # noqa: BLE001 - the parser's every refusal is the client's bad path
        raise bad(f"The path does not parse: {error}", "invalidPath") from None
    if isinstance(node, ValuePath):
        attr, val_filter, sub = node.attr_path, node.val_filter, node.sub_attr
        if attr.sub_attr is not None:
            raise bad(f"Unsupported path {text!r}.", "invalidPath")
    elif isinstance(node, AttrPath):
        attr, val_filter, sub = node, None, node.sub_attr
    else:
        raise bad(f"Unsupported path {text!r}.", "invalidPath")
    urn = attr.uri
    if urn is not None and urn.lower() not in {u.lower() for u in urns}:
        raise bad(f"Unknown schema in path: {urn}.", "invalidPath")
    return urn, attr.attr, sub, val_filter


def _key(container: dict[str, Any], name: str) -> str:
    """The key of a dict that matches a name without regard to case (the name itself when absent)."""
    return next((k for k in container if k.lower() == name.lower()), name)


_USER_MULTI = {"emails", "phonenumbers", "addresses"}
_USER_READ_ONLY = {"id", "meta", "groups", "displayname", "schemas"}


def _apply_user_op(resource: dict[str, Any], op: str, path: str | None, value: Any) -> None:
    if path is None:
        _apply_without_path(resource, op, value)
        return
    if path.strip().lower() == ENTERPRISE_URN.lower():  # the whole extension: {"organization": …}
        _apply_enterprise(resource, op, value)
        return
    urn, attr, sub, val_filter = _parse_path(path, (USER_URN, ENTERPRISE_URN))
    if urn is None and attr.lower() in {"username", "active"} and op == "remove":
        raise bad(f"{attr} is required: it can be replaced, not removed.", "mutability")
    if urn is not None and urn.lower() == ENTERPRISE_URN.lower():
        resource = resource.setdefault(_key(resource, ENTERPRISE_URN), {})
    if (urn is None or urn.lower() == USER_URN.lower()) and attr.lower() == "displayname":
        # Made of the two names, so read-only; Entra ID's default mapping still sends it with every update
        # ({"op": "Replace", "path": "displayName", …}, see tests/scim/test_provider_replays.py): it is ignored,
        # as it is in an operation without a path, rather than failing the whole request.
        return
    if attr.lower() in _USER_READ_ONLY:
        raise bad(f"{attr} cannot be changed.", "mutability")
    if attr.lower() in _USER_MULTI:
        _apply_multi_valued(resource, op, path, attr, sub, value, whole=val_filter is None and sub is None)
    elif sub is not None:
        _apply_sub_attribute(resource, op, attr, sub, value)
    elif op == "remove":
        resource.pop(_key(resource, attr), None)
    else:
        _set(resource, attr, value)


def _apply_without_path(resource: dict[str, Any], op: str, value: Any) -> None:
    """An operation without a path: each attribute of the value object applied in turn."""
    if not isinstance(value, dict):
        raise bad("An operation without a path takes an object of attributes.", "invalidValue")
    for name, item in value.items():
        if name.lower().startswith("urn:") and ":" in name and isinstance(item, dict):
            target = resource.setdefault(_key(resource, name), {})
            target.update(item)
        elif name.lower().startswith("urn:") or "." in name:  # "urn:…:User:organization", "name.givenName"
            _apply_user_op(resource, op, name, item)
        else:
            _set(resource, name, item)


def _apply_enterprise(resource: dict[str, Any], op: str, value: Any) -> None:
    """An operation whose path is the whole enterprise extension."""
    if op == "remove":
        resource.pop(_key(resource, ENTERPRISE_URN), None)
        return
    if not isinstance(value, dict):
        raise bad(f"{ENTERPRISE_URN} takes an object.", "invalidValue")
    current = resource.get(_key(resource, ENTERPRISE_URN)) or {}
    resource[_key(resource, ENTERPRISE_URN)] = {**current, **value} if op == "add" else dict(value)


def _apply_multi_valued(
    resource: dict[str, Any], op: str, path: str, attr: str, sub: str | None, value: Any, *, whole: bool
) -> None:
    """emails, phoneNumbers, addresses: one value is kept per attribute."""
    if whole:
        if op == "remove":
            resource.pop(_key(resource, attr), None)
        else:  # one value is kept per attribute: what is added replaces it
            resource[_key(resource, attr)] = value
        return
    items = resource.get(_key(resource, attr)) or []
    item = items[0] if items else {}
    if op == "remove":
        if sub is None:
            resource.pop(_key(resource, attr), None)
        else:
            item.pop(_key(item, sub), None)
        return
    if sub is None:
        if not isinstance(value, dict):
            raise bad(f"{path} takes an object.", "invalidValue")
        item.update(value)
    else:
        item[_key(item, sub)] = value
    resource[_key(resource, attr)] = [item]


def _apply_sub_attribute(resource: dict[str, Any], op: str, attr: str, sub: str, value: Any) -> None:
    """A sub-attribute of a single-valued complex attribute ("name.givenName")."""
    container = resource.setdefault(_key(resource, attr), {})
    if not isinstance(container, dict):
        raise bad(f"{attr} has no sub-attributes.", "invalidPath")
    if op == "remove":
        container.pop(_key(container, sub), None)
    else:
        container[_key(container, sub)] = value


def _set(resource: dict[str, Any], name: str, value: Any) -> None:
    """An attribute set; a complex attribute is merged into what is there, for add and replace alike
    (RFC 7644 §3.5.2.3: sub-attributes not given are left unchanged)."""
    if name.lower() in _USER_READ_ONLY:
        return  # read-only attributes in a whole-object replace are ignored, as RFC 7644 §3.5.1 says for PUT
    key = _key(resource, name)
    if isinstance(value, dict) and isinstance(resource.get(key), dict):
        resource[key] = {**resource[key], **value}
    else:
        resource[key] = value


@one_change
def patch_user(account: Account, user: User, body: dict[str, Any]) -> None:
    """PATCH /Users/{id}: the operations applied to the user's SCIM form, then that form saved."""
    _ensure_not_owner(user)
    resource = copy.deepcopy(user_resource(user))
    for op, path, value in _operations(body):  # string booleans ("False") are read when the form is saved
        _apply_user_op(resource, op, path, value)
    replace_user(account, user, resource)


# --- groups ---------------------------------------------------------------------------------------------


def _member_ids(value: Any) -> list[uuid.UUID]:
    items = value if isinstance(value, list) else [value]
    ids = []
    for item in items:
        raw = item.get("value") if isinstance(item, dict) else item
        if not isinstance(raw, str):
            raise bad('A member is {"value": "<user id>"}.')
        parsed = parse_uuid(raw)
        if parsed is None:
            raise bad(f"No such user: {raw}.", "invalidValue", 400)
        ids.append(parsed)
    return ids


def _members(account_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[User]:
    found = user_queries.users_in_account(account_id, list(dict.fromkeys(ids)))
    if len(found) != len(set(ids)):
        raise bad("A member is not a user of this account.", "invalidValue", 400)
    return found


def _group_fields(
    account_id: uuid.UUID, resource: dict[str, Any], group_id: uuid.UUID | None
) -> tuple[str, str | None]:
    body = _lower_keys(resource)
    name = _text(body.get("displayname"), "displayName", 1000)
    if not name:
        raise bad("displayName is required.")
    problem = name_problem(account_id, name, group_id)
    if problem:
        raise bad(
            f"displayName: {problem}",
            "uniqueness" if "already" in problem else "invalidValue",
            409 if "already" in problem else 400,
        )
    external_id = _text(body.get("externalid"), "externalId", EXTERNAL_ID_MAX) or None
    if external_id is not None:
        taken = select(Group.id).where(Group.account_id == account_id, Group.external_id == external_id)
        if group_id is not None:
            taken = taken.where(Group.id != group_id)
        if db.session.scalar(taken.limit(1)) is not None:
            raise bad("externalId: another group of this account has it.", "uniqueness", 409)
    return name, external_id


def _touch(group: Group) -> None:
    """A membership change is a change of the group: a new version (ETag) and lastModified."""
    touch(group)


@one_change
def create_group(account: Account, resource: dict[str, Any]) -> Group:
    """POST /Groups, with its members if given."""
    name, external_id = _group_fields(account.id, resource, None)
    members = _members(account.id, _member_ids(_lower_keys(resource).get("members") or []))
    actor = actor_for(account)
    group = groups.create_group(account.id, name, "", external_id=external_id, actor=actor)
    db.session.flush()
    if members:
        groups.add_members(group, members, actor=actor)
    return group


@one_change
def replace_group(account: Account, group: Group, resource: dict[str, Any]) -> None:
    """PUT /Groups/{id}: name, external id and the whole set of members."""
    name, external_id = _group_fields(account.id, resource, group.id)
    actor = actor_for(account)
    groups.update_group(group, name, group.description, external_id=external_id, actor=actor)
    body = _lower_keys(resource)
    if "members" in body:
        groups.replace_members(group, _members(account.id, _member_ids(body["members"] or [])), actor=actor)
    _touch(group)


@one_change
def patch_group(account: Account, group: Group, body: dict[str, Any]) -> None:
    """PATCH /Groups/{id}: members added and removed by id (index-backed, the group is never read whole),
    displayName and externalId replaced."""
    actor = actor_for(account)
    name, external_id = group.name, group.external_id
    for op, path, value in _operations(body):
        if path is None:
            if not isinstance(value, dict):
                raise bad("An operation without a path takes an object of attributes.")
            fields = _lower_keys(value)
            if "displayname" in fields:
                name = _text(fields["displayname"], "displayName", 1000)
            if "externalid" in fields:
                external_id = _text(fields["externalid"], "externalId", EXTERNAL_ID_MAX) or None
            if "members" in fields:
                _change_members(account, group, op, None, fields["members"], actor=actor)
            continue
        _urn, attr, sub, val_filter = _parse_path(path, (GROUP_URN,))
        if attr.lower() == "members":
            _change_members(account, group, op, val_filter, value, actor=actor)
        elif attr.lower() == "displayname" and sub is None:
            if op == "remove":
                raise bad("displayName is required.", "mutability")
            name = _text(value, "displayName", 1000)
        elif attr.lower() == "externalid" and sub is None:
            external_id = None if op == "remove" else (_text(value, "externalId", EXTERNAL_ID_MAX) or None)
        elif attr.lower() in {"id", "meta"}:
            raise bad(f"{attr} cannot be changed.", "mutability")
        else:
            raise bad(f"Groups have no {attr}.", "invalidPath")
    if (name, external_id) != (group.name, group.external_id):
        _group_fields(account.id, {"displayName": name, "externalId": external_id}, group.id)
        groups.update_group(group, name, group.description, external_id=external_id, actor=actor)
    _touch(group)


def _change_members(account: Account, group: Group, op: str, val_filter: Any, value: Any, *, actor: Actor) -> None:
    if val_filter is not None:  # members[value eq "…"]
        if op != "remove":
            raise bad("Members are added with a value list, not a filter.", "invalidPath")
        ids = _filtered_member_ids(group, val_filter)
        groups.remove_members(group, user_queries.users_in_account(account.id, ids), actor=actor)
        return
    if op == "add":
        groups.add_members(group, _members(account.id, _member_ids(value or [])), actor=actor)
    elif op == "remove":
        if value is None:  # every member
            groups.replace_members(group, [], actor=actor)
        else:  # a value list instead of a path filter (Entra ID, Okta)
            groups.remove_members(group, user_queries.users_in_account(account.id, _member_ids(value)), actor=actor)
    else:
        groups.replace_members(group, _members(account.id, _member_ids(value or [])), actor=actor)


def _filtered_member_ids(group: Group, val_filter: Any) -> list[uuid.UUID]:
    """The ids of the group's members that a path's value filter (members[value eq "…"]) selects."""
    from portal.scim.filters import member_condition

    return list(
        db.session.scalars(
            select(GroupMember.user_id).where(GroupMember.group_id == group.id, member_condition(val_filter))
        )
    )


@one_change
def delete_group(account: Account, group: Group) -> None:
    """DELETE /Groups/{id} (its memberships go, the users stay)."""
    groups.delete_group(group, actor=actor_for(account))
