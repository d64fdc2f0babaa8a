"""The portal's users and groups as SCIM resources (SCIM.md's mapping), the discovery documents, and the
`attributes` / `excludedAttributes` selection (RFC 7644 §3.4.2.5)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import url_for
from scim2_models import Context, EnterpriseUser
from scim2_models import Group as ScimGroup
from scim2_models import User as ScimUser

from portal.models import Group, User, UserStatus
from portal.scim.filters import ENTERPRISE_URN, GROUP_URN, USER_URN
from portal.scim.queries import GroupRef

LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MAX_RESULTS = 100


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def version_of_user(user: User) -> str:
    return f'W/"{user.version}"'


def version_of_group(group: Group) -> str:
    return f'W/"{group.version}"'


def _base(account_id: Any) -> str:
    return url_for("scim.base", account_id=account_id, _external=True).rstrip("/")


def user_resource(user: User, groups: Iterable[GroupRef] = ()) -> dict[str, Any]:
    """A user as SCIM's User with the enterprise extension.

    The portal keeps one email, one phone and one address, and only their values: they are answered as
    `[{"value": …}]` without a `type` or `primary` the portal would have made up (what a provider sends of
    those picks the one value, see services.user_fields). `name.formatted` is returned on request only
    (`attributes=name.formatted`): it is made of the two names, and a client that wrote the names reads
    back exactly what it wrote."""
    base = _base(user.account_id)
    name = {
        "givenName": user.first_name,
        "familyName": user.last_name,
        "formatted": f"{user.first_name} {user.last_name}".strip(),
    }
    resource: dict[str, Any] = {
        "schemas": [USER_URN, ENTERPRISE_URN] if user.company_name else [USER_URN],
        "id": str(user.id),
        "userName": user.login,
        "name": {k: v for k, v in name.items() if v},
        "displayName": user.full_name,
        "emails": [{"value": user.email}],
        "active": user.status != UserStatus.DISABLED,
        "groups": [{"value": str(g.id), "display": g.name, "$ref": f"{base}/Groups/{g.id}"} for g in groups],
        "meta": {
            "resourceType": "User",
            "created": _time(user.created_at),
            "lastModified": _time(user.updated_at),
            "location": f"{base}/Users/{user.id}",
            "version": version_of_user(user),
        },
    }
    if user.external_id is not None:
        resource["externalId"] = user.external_id
    if not resource["name"]:
        del resource["name"]
    if user.phone:
        resource["phoneNumbers"] = [{"value": user.phone}]
    address = {
        "streetAddress": user.address,
        "postalCode": user.postal_code,
        "locality": user.city,
        "region": user.state,
        "country": user.country,
    }
    if any(address.values()):
        resource["addresses"] = [{k: v for k, v in address.items() if v}]
    if user.company_name:
        resource[ENTERPRISE_URN] = {"organization": user.company_name}
    if not resource["groups"]:
        del resource["groups"]
    return resource


def group_resource(group: Group, member_ids: Iterable[Any] | None) -> dict[str, Any]:
    """A group as SCIM's Group; member_ids None when they were not asked for (excludedAttributes=members).

    Members are `{value, $ref, type}`: their display names are one GET away, and leaving them out keeps a
    big group's answer a read of group_members alone."""
    base = _base(group.account_id)
    resource: dict[str, Any] = {
        "schemas": [GROUP_URN],
        "id": str(group.id),
        "displayName": group.name,
        "meta": {
            "resourceType": "Group",
            "created": _time(group.created_at),
            "lastModified": _time(group.updated_at),
            "location": f"{base}/Groups/{group.id}",
            "version": version_of_group(group),
        },
    }
    if group.external_id is not None:
        resource["externalId"] = group.external_id
    if member_ids is not None:
        resource["members"] = [
            {"value": str(user_id), "$ref": f"{base}/Users/{user_id}", "type": "User"} for user_id in member_ids
        ]
    return resource


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> dict[str, Any]:
    return {
        "schemas": [LIST_URN],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


# --- attribute selection ---------------------------------------------------------------------------------

_ALWAYS = {"id", "schemas"}


def _names(text: str | None, urn: str) -> list[tuple[str, ...]]:
    """`userName,name.givenName,urn:…:User:organization` as lower-cased paths (URN prefixes resolved)."""
    paths = []
    for raw in (text or "").split(","):
        name = raw.strip()
        if not name:
            continue
        lowered = name.lower()
        for prefix in (ENTERPRISE_URN.lower(), urn.lower()):
            if lowered.startswith(prefix + ":"):
                rest = name[len(prefix) + 1 :]
                paths.append(
                    ((ENTERPRISE_URN.lower(),) if prefix == ENTERPRISE_URN.lower() else ())
                    + tuple(p.lower() for p in rest.split("."))
                )
                break
            if lowered == prefix:
                paths.append((prefix,))
                break
        else:
            paths.append(tuple(p.lower() for p in name.split(".")))
    return paths


def wanted(text: str | None, urn: str, attribute: str) -> bool:
    """Whether an attribute is asked for (for leaving out what costs: a big group's members)."""
    return not any(path[0] == attribute.lower() and len(path) == 1 for path in _names(text, urn))


# Attributes whose `returned` is "request": answered only when `attributes` names them.
REQUEST_ONLY: dict[str, tuple[str, str]] = {USER_URN: ("name", "formatted")}


def _without_request_only(resource: dict[str, Any], include: list[tuple[str, ...]], urn: str) -> dict[str, Any]:
    path = REQUEST_ONLY.get(urn)
    if path is None or path in include:
        return resource
    parent, child = path
    key = next((k for k in resource if k.lower() == parent), None)
    if key is None or not isinstance(resource[key], dict):
        return resource
    inner = {k: v for k, v in resource[key].items() if k.lower() != child}
    result = {k: v for k, v in resource.items() if k != key}
    if inner:
        result[key] = inner
    return result


def select_attributes(
    resource: dict[str, Any], attributes: str | None, excluded: str | None, urn: str
) -> dict[str, Any]:
    """The resource with only the attributes asked for, or without those excluded (id and schemas stay);
    an attribute returned on request only is left out unless asked for by its full name."""
    include = _names(attributes, urn)
    resource = _without_request_only(resource, include, urn)
    if include:
        return _keep(resource, include)
    exclude = _names(excluded, urn)
    if exclude:
        return _drop(resource, exclude)
    return resource


def _keep(resource: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in resource.items():
        lowered = key.lower()
        if lowered in _ALWAYS:
            kept[key] = value
            continue
        subs = [path[1:] for path in paths if path[0] == lowered]
        if not subs:
            continue
        if any(not sub for sub in subs) or not isinstance(value, dict | list):
            kept[key] = value
        elif isinstance(value, dict):
            kept[key] = _keep(value, subs)
        else:
            kept[key] = [_keep(item, subs) if isinstance(item, dict) else item for item in value]
    return kept


def _drop(resource: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in resource.items():
        lowered = key.lower()
        subs = [path[1:] for path in paths if path[0] == lowered]
        if lowered in _ALWAYS or not subs:
            result[key] = value
        elif any(not sub for sub in subs):
            continue
        elif isinstance(value, dict):
            result[key] = _drop(value, subs)
        elif isinstance(value, list):
            result[key] = [_drop(item, subs) if isinstance(item, dict) else item for item in value]
        else:
            result[key] = value
    return result


# --- discovery ------------------------------------------------------------------------------------------

# What the portal keeps of SCIM's User, Group and enterprise User, and how (SCIM.md's mapping): one email,
# one phone and one address, their values only (no type, no primary).
_USER_KEPT: dict[str, list[str] | None] = {
    "userName": None,
    "name": ["formatted", "familyName", "givenName"],
    "displayName": None,
    "active": None,
    "emails": ["value"],
    "phoneNumbers": ["value"],
    "addresses": ["streetAddress", "locality", "region", "postalCode", "country"],
    "groups": ["value", "$ref", "display"],
}
_READ_ONLY = {"displayName", "name.formatted", "groups"}
# Every user of the portal has an email (an address sent without emails is taken from an email-like userName,
# see services.user_fields) and a state (active, when a create leaves it out); every group has a name. The
# schema says so, so that a client that fills only what is required (scim2-tester does) sends them; a
# sub-attribute is required when its attribute is present.
_REQUIRED = {"User": {"emails", "emails.value", "active"}, "Group": {"displayName"}, "EnterpriseUser": set()}
_RETURNED_ON_REQUEST = {"name.formatted"}
_GROUP_KEPT: dict[str, list[str] | None] = {"displayName": None, "members": ["value", "$ref", "type"]}
_ENTERPRISE_KEPT: dict[str, list[str] | None] = {"organization": None}


def _schema(model: Any, kept: dict[str, list[str] | None], location: str) -> dict[str, Any]:
    document: dict[str, Any] = model.to_schema().model_dump(mode="json", scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    attributes = []
    required = _REQUIRED[model.__name__]
    for attribute in document["attributes"]:
        name = attribute["name"]
        if name not in kept:
            continue
        subs = kept[name]
        if subs is not None:
            attribute["subAttributes"] = [s for s in attribute.get("subAttributes", []) if s["name"] in subs]
            for sub in attribute["subAttributes"]:
                if f"{name}.{sub['name']}" in _READ_ONLY:
                    sub["mutability"] = "readOnly"
                if f"{name}.{sub['name']}" in required:
                    sub["required"] = True
                if f"{name}.{sub['name']}" in _RETURNED_ON_REQUEST:
                    sub["returned"] = "request"
        if name in _READ_ONLY and model is not ScimGroup:
            attribute["mutability"] = "readOnly"
            for sub in attribute.get("subAttributes", []):
                sub["mutability"] = "readOnly"
        if name == "userName":
            attribute["uniqueness"] = "server"
        if name in required:
            attribute["required"] = True
        attributes.append(attribute)
    document["attributes"] = attributes
    document["meta"] = {"resourceType": "Schema", "location": location}
    return document


def schemas(base: str) -> list[dict[str, Any]]:
    """/Schemas: every attribute the portal keeps, described (type, multiValued, required, caseExact,
    mutability, returned, uniqueness)."""
    return [
        _schema(ScimUser, _USER_KEPT, f"{base}/Schemas/{USER_URN}"),
        _schema(EnterpriseUser, _ENTERPRISE_KEPT, f"{base}/Schemas/{ENTERPRISE_URN}"),
        _schema(ScimGroup, _GROUP_KEPT, f"{base}/Schemas/{GROUP_URN}"),
    ]


def resource_types(base: str) -> list[dict[str, Any]]:
    schema = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
    return [
        {
            "schemas": [schema],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "User Account",
            "schema": USER_URN,
            "schemaExtensions": [{"schema": ENTERPRISE_URN, "required": False}],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
        },
        {
            "schemas": [schema],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Group",
            "schema": GROUP_URN,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
        },
    ]


def service_provider_config(base: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": f"{base.split('/scim/')[0]}/api/docs",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Provisioning token",
                "primary": True,
                "description": "A provisioning token made on the account's Provisioning page, sent as "
                "Authorization: Bearer <token>.",
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"},
    }
