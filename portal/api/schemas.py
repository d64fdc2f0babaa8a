"""The JSON API's shapes (API.md): pydantic models that read every request and write every answer.

The same classes make the OpenAPI document (portal.api.core.spec), so the document cannot drift from what
the code accepts and sends. Field rules are not copied here: the validators call portal.field_rules, and
lengths come from its constants. Request bodies forbid unknown fields (422); query strings ignore them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, RootModel, model_validator
from pydantic_core import PydanticCustomError

from portal import field_rules
from portal.field_rules import EMAIL_MAX, LOGIN_MAX, LOGIN_MIN, PROFILE_LIMITS
from portal.groups.services import DESCRIPTION_MAX as GROUP_DESCRIPTION_MAX
from portal.groups.services import NAME_MAX as GROUP_NAME_MAX
from portal.pagination import DEFAULT_TAKE, MAX_TAKE
from portal.permissions import Permission
from portal.roles.services import DESCRIPTION_MAX as ROLE_DESCRIPTION_MAX
from portal.roles.services import NAME_MAX as ROLE_NAME_MAX
from portal.roles.services import NAME_MIN as ROLE_NAME_MIN

MAX_INVITES = 100  # addresses in one POST /invitations (as the page)
MAX_MEMBERS = 5_000  # people in one members request (as the page: portal.groups.forms.MAX_ENTRIES)


# --- field types --------------------------------------------------------------------------------------


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _lowered(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _rule(problem: Callable[[str], str | None]) -> AfterValidator:
    """A pydantic validator from a shared rule: its sentence becomes the error's message."""

    def check(value: str) -> str:
        message = problem(value)
        if message:
            raise PydanticCustomError("invalid_argument", message)
        return value

    return AfterValidator(check)


Login = Annotated[
    str,
    BeforeValidator(_lowered),
    _rule(field_rules.login_problem),
    Field(
        description="Letters, digits, `.`, `_`, `-`, `@`, `+` (an email address or UPN will do), "
        "starting with a letter or digit; stored lower-case.",
        json_schema_extra={"minLength": LOGIN_MIN, "maxLength": LOGIN_MAX},
        examples=["ada"],
    ),
]
Email = Annotated[
    str,
    BeforeValidator(_lowered),
    _rule(field_rules.email_problem),
    Field(
        description=f"An email address, at most {EMAIL_MAX} characters; stored lower-case.",
        json_schema_extra={"format": "email", "maxLength": EMAIL_MAX},
        examples=["ada@example.com"],
    ),
]
Password = Annotated[
    str,
    Field(
        description="Checked against the password policy (length, common passwords, the person's login and email).",
        examples=["violet-harbor-lantern-42"],
    ),
]


def _profile(name: str, example: str = "") -> Any:
    """The Field of a profile text: the limit of the pages' form, and an example."""
    return Field(max_length=PROFILE_LIMITS[name], examples=[example] if example else None)


FirstName = Annotated[str, BeforeValidator(_stripped), _profile("first_name", "Ada")]
LastName = Annotated[str, BeforeValidator(_stripped), _profile("last_name", "Lovelace")]
CompanyName = Annotated[str, BeforeValidator(_stripped), _profile("company_name", "Analytical Engines Ltd")]
Address = Annotated[str, BeforeValidator(_stripped), _profile("address", "12 St James's Square")]
PostalCode = Annotated[str, BeforeValidator(_stripped), _profile("postal_code", "SW1Y 4JH")]
City = Annotated[str, BeforeValidator(_stripped), _profile("city", "London")]
State = Annotated[str, BeforeValidator(_stripped), _profile("state")]
Country = Annotated[str, BeforeValidator(_stripped), _profile("country", "GB")]
Phone = Annotated[str, BeforeValidator(_stripped), _profile("phone", "+44 20 7946 0000")]
# The names of the portal's states, as the API spells them (the models keep them as plain strings).
UserStatusName = Literal["active", "pending", "disabled"]
InvitationStatusName = Literal["pending", "accepted", "expired", "revoked"]
MemberStatusName = Literal["accepted", "pending"]
DeliveryName = Literal["queued", "sent", "failed"]
ViaName = Literal["web", "api", "scim", "cli"]
RefusalCode = Literal["InvalidArgument", "Conflict", "RateLimited"]

Reference = Annotated[str, Field(min_length=1, max_length=100, description="A name or an id.")]
Version = Annotated[str, Field(description="The resource's version: its ETag, for If-Match.", examples=["3"])]


class Body(BaseModel):
    """A request body: unknown fields are refused (422)."""

    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    """An answer's shape."""


# --- errors and paging ----------------------------------------------------------------------------------


class ErrorItem(Answer):
    code: Literal[
        "MalformedJson",
        "Unauthorized",
        "Forbidden",
        "ResourceNotFound",
        "MethodNotAllowed",
        "Conflict",
        "PreconditionFailed",
        "UnsupportedMediaType",
        "MissingParameter",
        "InvalidArgument",
        "IdempotencyKeyReused",
        "RateLimited",
        "InternalError",
    ]
    message: str
    field: str | None = Field(None, description="The one field at fault, where there is one.")


class Error(Answer):
    """`{"errors": [...]}`: one entry per problem."""

    errors: list[ErrorItem]


class Paging(Answer):
    current_page: int = Field(description="0-based (seed 002).")
    page_count: int
    page_size: int
    row_count: int
    row_count_exact: bool = Field(description="false where the count was capped (row_count is then a floor).")
    next: str | None = Field(description="The URL of the next page (with its keyset cursor), or null.")


class ListQuery(BaseModel):
    """`from` (an offset), `take` (1–100) and `after` (the keyset cursor inside `next`)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    from_: int = Field(0, alias="from", ge=0, le=1_000_000_000)
    take: int = Field(DEFAULT_TAKE, ge=1, le=MAX_TAKE)
    after: str | None = Field(None, max_length=500)


# --- users ------------------------------------------------------------------------------------------------


class GroupMembership(Answer):
    group_id: uuid.UUID
    name: str
    status: MemberStatusName
    created_at: datetime


class User(Answer):
    id: uuid.UUID
    login: str
    email: str
    first_name: str
    last_name: str
    company_name: str
    address: str
    postal_code: str
    city: str
    state: str
    country: str
    phone: str
    status: UserStatusName
    is_owner: bool
    mfa_enabled: bool
    is_sso_user: bool
    invitation_status: InvitationStatusName | None
    roles: list[str] = Field(description="Role names; an invited person's are their invitation's.")
    default_roles: list[str] = Field(description="The roles active at sign-in (seed 001).")
    group_memberships: list[GroupMembership]
    last_sign_in_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: Version


class UsersPage(Paging):
    owner: User | None = Field(description="The owner, apart from the other users (seed 000).")
    users: list[User]


class UsersQuery(ListQuery):
    email: str | None = Field(None, max_length=100, description="A prefix of the email (seed 002).")
    q: str | None = Field(None, max_length=100, description="A prefix of the email, login, first or last name.")
    status: UserStatusName | None = None
    role: str | None = Field(None, max_length=100, description="A role's name or id.")


class UserQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    membership: bool | None = Field(None, description="Accepted (seed 001); roles are always included.")


class ProfileFields(Body):
    first_name: FirstName = ""
    last_name: LastName = ""
    company_name: CompanyName = ""
    address: Address = ""
    postal_code: PostalCode = ""
    city: City = ""
    state: State = ""
    country: Country = ""
    phone: Phone = ""


class UserCreate(ProfileFields):
    """With `password`: an active user (seed 001; `login` then required). Without: a pending user who is
    emailed an invitation (seed 000) and chooses their login on accepting."""

    email: Email
    login: Login | None = None
    password: Password | None = None
    password_confirmation: str | None = Field(
        None, description="The password again (checked when given).", examples=["violet-harbor-lantern-42"]
    )
    temporary: bool = Field(True, description="The person chooses a new password at their next sign-in.")
    roles: list[Reference] = Field(
        default_factory=list, max_length=100, description="Role names or ids.", examples=[["auditor"]]
    )
    groups: list[Reference] = Field(
        default_factory=list, max_length=100, description="Group names or ids.", examples=[["Engineering"]]
    )

    @model_validator(mode="after")
    def _password_rules(self) -> UserCreate:
        if self.password is None:
            if self.login is not None:
                raise PydanticCustomError(
                    "invalid_argument:login", "An invited person chooses their login when they accept."
                )
            if self.password_confirmation is not None:
                raise PydanticCustomError("missing:password", "Give the password too.")
            return self
        if self.login is None:
            raise PydanticCustomError("missing:login", "A user created with a password needs a login.")
        problem = field_rules.password_problem(self.password, [self.login, self.email])
        if problem:
            raise PydanticCustomError("invalid_argument:password", problem)
        if self.password_confirmation is not None:
            differ = field_rules.confirmation_problem(self.password, self.password_confirmation)
            if differ:
                raise PydanticCustomError("invalid_argument:password_confirmation", differ)
        return self

    def profile(self) -> dict[str, str]:
        """The profile fields given (never anything else: SECURITY A7)."""
        return {name: getattr(self, name) for name in PROFILE_LIMITS}


# Fields PATCH /users/{user} refuses by name, with where to go instead.
NOT_PATCHABLE = {
    "password": "The password changes with POST …/users/<user>/password, never here (seed 001).",
    "password_confirmation": "The password changes with POST …/users/<user>/password, never here (seed 001).",
    "status": "The status changes with POST …/users/<user>/disable or …/enable.",
    "is_owner": "Ownership moves only by the owner's transfer on the account's settings page.",
}


class UserUpdate(Body):
    """Any profile field, `login`, `email` (an email change is pending until the new address confirms it)."""

    login: Login | None = None
    email: Email | None = None
    first_name: FirstName | None = None
    last_name: LastName | None = None
    company_name: CompanyName | None = None
    address: Address | None = None
    postal_code: PostalCode | None = None
    city: City | None = None
    state: State | None = None
    country: Country | None = None
    phone: Phone | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_by_name(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, message in NOT_PATCHABLE.items():
                if name in data:
                    raise PydanticCustomError(f"invalid_argument:{name}", message)
        return data

    def changes(self) -> dict[str, str]:
        """The fields sent."""
        return {name: value for name, value in self.model_dump(exclude_unset=True).items() if value is not None}


class RolesReplace(Body):
    roles: list[Reference] = Field(max_length=100, description="Role names or ids: the whole new set.")
    default_roles: list[Reference] | None = Field(
        None, max_length=100, description="The subset active at sign-in (default: all of them)."
    )


class PasswordSet(Body):
    password: Password
    password_confirmation: str = Field(description="The password again.", examples=["violet-harbor-lantern-42"])
    temporary: bool = Field(True, description="The person chooses a new password at their next sign-in.")

    @model_validator(mode="after")
    def _same_twice(self) -> PasswordSet:
        differ = field_rules.confirmation_problem(self.password, self.password_confirmation)
        if differ:
            raise PydanticCustomError("invalid_argument:password_confirmation", differ)
        return self


class MfaReset(Body):
    reason: str = Field("", max_length=500)


# --- invitations ------------------------------------------------------------------------------------------


class Inviter(Answer):
    id: uuid.UUID
    login: str


class Invitation(Answer):
    id: uuid.UUID
    user_id: uuid.UUID | None
    email: str
    roles: list[str]
    groups: list[str]
    status: InvitationStatusName
    delivery: DeliveryName | None
    sent_count: int
    expires_at: datetime
    created_at: datetime
    invited_by: Inviter | None


class InvitationsPage(Paging):
    invitations: list[Invitation]


class InvitationsQuery(ListQuery):
    status: InvitationStatusName | None = None
    email: str | None = Field(None, max_length=100, description="A prefix of the address.")


class InvitationCreate(Body):
    """`email` (one: 201 Invitation) or `emails` (up to 100: 201 with who was invited and who was refused)."""

    email: str | None = Field(None, max_length=254, examples=["grace@example.com"])
    emails: list[Annotated[str, Field(max_length=254)]] | None = Field(None, min_length=1, max_length=MAX_INVITES)
    roles: list[Reference] = Field(default_factory=list, max_length=100)
    groups: list[Reference] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _one_form(self) -> InvitationCreate:
        if (self.email is None) == (self.emails is None):
            raise PydanticCustomError("missing:email", "Give either `email` or `emails`.")
        return self


class Refused(Answer):
    email: str
    code: RefusalCode
    message: str


class InvitationsCreated(Answer):
    invited: list[Invitation]
    refused: list[Refused]


class InvitationsAnswer(RootModel[Invitation | InvitationsCreated]):
    """POST /invitations: an Invitation for `email`, who was invited and who refused for `emails`."""


class InvitationUpdate(Body):
    roles: list[Reference] | None = Field(None, max_length=100)
    groups: list[Reference] | None = Field(None, max_length=100)


class InvitationResend(Body):
    user_id: uuid.UUID


# --- roles, permissions ----------------------------------------------------------------------------------------

if TYPE_CHECKING:  # the catalogue's names, known only when the module runs
    PermissionName = str
else:
    PermissionName = Literal[tuple(p.value for p in Permission)]


class PermissionInfo(Answer):
    name: PermissionName
    description: str


class PermissionList(RootModel[list[PermissionInfo]]):
    """The permission catalogue."""


class Role(Answer):
    id: uuid.UUID
    name: str
    description: str
    built_in: bool
    permissions: list[PermissionName]
    member_count: int
    version: Version


class RolesPage(Paging):
    roles: list[Role]


class RoleCreate(Body):
    name: Annotated[
        str,
        BeforeValidator(_stripped),
        Field(min_length=ROLE_NAME_MIN, max_length=ROLE_NAME_MAX, examples=["Support desk"]),
    ]
    description: Annotated[str, BeforeValidator(_stripped), Field(max_length=ROLE_DESCRIPTION_MAX)] = ""
    permissions: list[PermissionName] = Field(default_factory=list, max_length=len(Permission))


class RoleUpdate(Body):
    name: (
        Annotated[str, BeforeValidator(_stripped), Field(min_length=ROLE_NAME_MIN, max_length=ROLE_NAME_MAX)] | None
    ) = None
    description: Annotated[str, BeforeValidator(_stripped), Field(max_length=ROLE_DESCRIPTION_MAX)] | None = None
    permissions: list[PermissionName] | None = Field(None, max_length=len(Permission))


# --- groups and members -----------------------------------------------------------------------------------------


class Group(Answer):
    id: uuid.UUID
    name: str
    description: str
    member_count: int = Field(description="Capped: past 10,000 it reads 10,001.")
    created_at: datetime
    version: Version


class GroupsPage(Paging):
    groups: list[Group]


class GroupsQuery(ListQuery):
    q: str | None = Field(None, max_length=100, description="A part of the name.")


class GroupCreate(Body):
    name: Annotated[
        str, BeforeValidator(_stripped), Field(min_length=1, max_length=GROUP_NAME_MAX, examples=["Engineering"])
    ]
    description: Annotated[str, BeforeValidator(_stripped), Field(max_length=GROUP_DESCRIPTION_MAX)] = ""


class GroupUpdate(Body):
    name: Annotated[str, BeforeValidator(_stripped), Field(min_length=1, max_length=GROUP_NAME_MAX)] | None = None
    description: Annotated[str, BeforeValidator(_stripped), Field(max_length=GROUP_DESCRIPTION_MAX)] | None = None


class Member(Answer):
    id: uuid.UUID = Field(description="The user's id.")
    email: str
    status: MemberStatusName


class MemberList(RootModel[list[Member]]):
    """Members of a group."""


class MemberUser(Answer):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str


class MemberDetail(Member):
    created_at: datetime = Field(description="When the person was added to the group.")
    user: MemberUser


class MembersPage(Paging):
    members: list[Member]


class MemberRef(Body):
    """A person, by `id` or by `email` (one of the two)."""

    id: uuid.UUID | None = None
    email: Annotated[str, BeforeValidator(_lowered), Field(max_length=EMAIL_MAX)] | None = None
    expires_at: datetime | None = Field(None, description="Adding only: the membership ends then (time-bound).")

    @model_validator(mode="after")
    def _one(self) -> MemberRef:
        if (self.id is None) == (self.email is None):
            raise PydanticCustomError("missing:id", "Give each member's `id` or `email`.")
        return self

    @property
    def entry(self) -> str:
        return str(self.id) if self.id is not None else str(self.email)


class MemberRefs(RootModel[Annotated[list[MemberRef], Field(max_length=MAX_MEMBERS)]]):
    """People by id or email."""


# --- audit --------------------------------------------------------------------------------------------------------


class AuditActor(Answer):
    id: uuid.UUID | None
    login: str


class AuditTarget(Answer):
    type: str
    id: str
    label: str


class AuditKey(Answer):
    id: uuid.UUID | None
    name: str


class AuditEvent(Answer):
    id: uuid.UUID
    at: datetime
    action: str
    actor: AuditActor | None
    via: ViaName
    api_key: AuditKey | None = Field(description="The key that made the change, for via=api.")
    target: AuditTarget | None
    changes: dict[str, Any]
    correlation_id: str
    ip: str


class EventsPage(Paging):
    events: list[AuditEvent]


class AuditQuery(ListQuery):
    actor: str | None = Field(None, max_length=200, description="The actor's login.")
    action: str | None = Field(None, max_length=64, description="An action, or a family as `user.*`.")
    target_type: str | None = Field(None, max_length=32)
    target: str | None = Field(None, max_length=200, description="A target's id or label.")
    since: str | None = Field(
        None, max_length=10, description="A UTC day, YYYY-MM-DD, inclusive.", json_schema_extra={"format": "date"}
    )
    until: str | None = Field(
        None, max_length=10, description="A UTC day, YYYY-MM-DD, inclusive.", json_schema_extra={"format": "date"}
    )


# --- the key itself ------------------------------------------------------------------------------------------------


class KeyInfo(Answer):
    id: uuid.UUID
    name: str
    scopes: list[PermissionName]
    expires_at: datetime | None


class Me(Answer):
    user: User
    key: KeyInfo


# --- jobs and imports (issue 18) -----------------------------------------------------------------------------


class JobStarter(Answer):
    id: uuid.UUID | None
    name: str


class Job(Answer):
    """Long work run by the worker: its progress, and when it is over, its result."""

    id: uuid.UUID
    kind: Literal["bulk_users", "export_users", "import_users"]
    title: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    dry_run: bool = Field(
        False, description="An import's dry run: it reports what each row would do, and changes nothing."
    )
    total: int = Field(description="Units of work (users, rows): known once the worker has prepared the job.")
    done: int
    refused: int
    result: dict[str, int] = Field(
        description="When done: counts by outcome (an import: created, updated, skipped, refused)."
    )
    error: str = Field(description="Why it failed, when it did.")
    started_by: JobStarter
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    report: str = Field(description="The URL of the per-row report (GET).")


class ImportQuery(BaseModel):
    """An import's options: multipart fields beside the file, or (as first documented) query parameters; a field
    wins over the query parameter of the same name."""

    model_config = ConfigDict(extra="ignore")

    dry_run: bool = Field(True, description="true (the default): report what each row would do, change nothing.")
    send_invitations: bool = Field(False, description="Email an invitation to each person created.")


class ImportUpload(ImportQuery):
    """The multipart/form-data body of POST /imports: the CSV file, and the options as fields."""

    file: bytes = Field(
        description="The CSV (the users export's columns, UTF-8; at most 100,000 rows and 10 MB).",
        json_schema_extra={"format": "binary", "contentMediaType": "text/csv"},
    )


class ReportLine(Answer):
    n: int = Field(description="The line of the report (an import: the row's order in the file).")
    who: str
    outcome: Literal["done", "refused", "created", "updated", "skipped"]
    reason: str


class ReportPage(Paging):
    lines: list[ReportLine]


class RoleGrant(Body):
    role: Reference = Field(description="The role's name or id.")
    default: bool = Field(True, description="Active at sign-in.")
    expires_at: datetime | None = Field(
        None, description="The grant ends then (time-bound access); it counts for nothing from that moment."
    )
