"""Importing users from CSV (issue 18): a dry run first, then the same plan applied, both as jobs.

The file has the export's own columns (portal.users.queries.EXPORT_HEADER; a template is offered) plus an
optional `access_expires` (a date or ISO time: every role grant and membership the row makes ends then; an
invited person's roles carry it on their invitation and are granted time-bound on accepting). Read-only
columns of the export (status, mfa, last_sign_in, created) are ignored, and so is `groups` when it holds
the export's count rather than names. A row is matched to a user by `id`, else by email; a match is
*updated* (the profile through the edit form's rules and services.update_profile; listed roles and groups
added, never taken away), *skipped* when nothing would change; a new address is *invited* (the invitation
service: pending user, roles granted on accepting, groups), with or without the email. Anything else is
*refused*, with the reason: the same forms and policy checks as the pages, row by row.

The dry run and the apply share `plan_row`; the dry run stops there and writes nothing but its report.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import MultiDict
from wtforms import EmailField, StringField, ValidationError
from wtforms.form import BaseForm
from wtforms.validators import DataRequired, Optional

from portal import db
from portal.actors import Actor
from portal.db import utcnow
from portal.errors import Conflict, DomainError, Invalid, NotFound
from portal.field_rules import login_problem
from portal.forms import PROFILE_FIELDS, ProfileFieldsForm, check, lower, valid_email
from portal.groups import services as groups
from portal.jobs import services as jobs
from portal.models import Account, Group, GroupMember, Job, JobItem, Role, RoleAssignment, User, UserStatus
from portal.models.role import in_force
from portal.permissions import Permission
from portal.roles import policy
from portal.roles import services as roles
from portal.users import bulk, queries
from portal.users import services as user_services
from portal.users.forms import UserProfileForm
from portal.uuids import parse_uuid, parse_uuids
from portal.versioning import saving

IMPORT = "import_users"
INPUT = "input"
MAX_ROWS = 100_000
MAX_BYTES = 10 * 1024 * 1024
EXPIRES_COLUMN = "access_expires"
COLUMNS = (*queries.EXPORT_HEADER, EXPIRES_COLUMN)
_ROLE_NOTE = re.compile(r"(\s*\((not default|invited|until [^)]*)\))+\s*$")  # the export's notes
OUTCOMES = ("created", "updated", "skipped", "refused")
F = TypeVar("F", bound=BaseForm)


class FileProblem(Exception):
    """The file as a whole cannot be imported (too big, no header, no email column): said before any job."""


class InviteeForm(ProfileFieldsForm):
    """A new person's row: their address, profile and (optional) login, unique in the account as on the pages."""

    email = EmailField("Email", [DataRequired(), valid_email], filters=[lower])
    login = StringField("Login", [Optional(), check(login_problem)], filters=[lower])

    def __init__(self, *args: Any, account_id: uuid.UUID, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_id = account_id

    def validate_login(self, field: StringField) -> None:
        problem = queries.taken_problem(self.account_id, "login", field.data) if field.data else None
        if problem:
            raise ValidationError(problem)


@dataclass
class ParsedRow:
    line: int
    values: dict[str, str] | None
    problem: str = ""


def parse(data: bytes) -> tuple[list[str], list[ParsedRow]]:
    """The header and each row of the file; a row that cannot be read carries its problem (FileProblem when
    the file itself is unusable)."""
    if len(data) > MAX_BYTES:
        raise FileProblem(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it.")
    text = data.decode("utf-8-sig", errors="surrogateescape")  # bad bytes stay visible, row by row
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise FileProblem("The file is empty or is not CSV.") from None
    names = [name.strip().lower().lstrip("\ufeff") for name in header]
    if "email" not in names:
        raise FileProblem("The first line must name the columns, email among them (download the template).")
    if len(set(names)) != len(names):
        raise FileProblem("A column is named twice in the first line.")
    rows: list[ParsedRow] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            rows.append(ParsedRow(line, None, f"Not readable as CSV: {error}."))
            continue
        if not any(c.strip() for c in cells):
            continue  # a blank line
        if len(rows) >= MAX_ROWS:
            raise FileProblem(f"The file has more than {MAX_ROWS:,} rows; split it.")
        if any(_bad_text(c) for c in cells):
            rows.append(ParsedRow(line, None, "Not valid UTF-8 text (save the file as CSV UTF-8) or holds a NUL."))
        elif len(cells) != len(names):
            rows.append(ParsedRow(line, None, f"Has {len(cells)} cells where the first line names {len(names)}."))
        else:
            rows.append(ParsedRow(line, {n: c for n, c in zip(names, cells, strict=True) if n in COLUMNS}))
    return names, rows


def _bad_text(value: str) -> bool:
    return "\x00" in value or any("\udc80" <= ch <= "\udcff" for ch in value)


def template() -> str:
    """The CSV template: the columns, and one example row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    example = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "roles": "auditor",
        EXPIRES_COLUMN: "",
    }
    writer.writerow([example.get(column, "") for column in COLUMNS])
    return buffer.getvalue()


# --- Planning one row: the rules of the pages, without writing --------------------------------------------


@dataclass
class Known:
    """What a batch of rows reads about its users, in a few statements for the whole batch (not per row)."""

    by_email: dict[str, User] = field(default_factory=dict)
    by_id: dict[uuid.UUID, User] = field(default_factory=dict)
    ranks: dict[uuid.UUID, frozenset[Permission]] = field(default_factory=dict)
    roles: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)
    groups: dict[uuid.UUID, set[uuid.UUID]] = field(default_factory=dict)

    @classmethod
    def load(cls, account_id: uuid.UUID, rows: list[dict[str, str]]) -> Known:
        emails = {row.get("email", "").strip().lower() for row in rows} - {""}
        ids = set(parse_uuids(row.get("id", "").strip() for row in rows))
        users = (
            list(
                db.session.scalars(
                    select(User).where(User.account_id == account_id, User.email.in_(emails) | User.id.in_(ids))
                )
            )
            if emails or ids
            else []
        )
        known = cls({u.email: u for u in users}, {u.id: u for u in users})
        user_ids = list(known.by_id)
        known.ranks = policy.held_permissions(user_ids)
        now = utcnow()
        for user_id, role_id in db.session.execute(
            select(RoleAssignment.user_id, RoleAssignment.role_id).where(
                RoleAssignment.user_id.in_(user_ids), in_force(RoleAssignment.expires_at, now)
            )
        ):
            known.roles.setdefault(user_id, set()).add(role_id)
        for user_id, group_id in db.session.execute(
            select(GroupMember.user_id, GroupMember.group_id).where(GroupMember.user_id.in_(user_ids))
        ):
            known.groups.setdefault(user_id, set()).add(group_id)
        return known


@dataclass
class Context:
    account: Account
    actor: Actor
    roles: dict[str, Role]
    groups: dict[str, Group]
    send_invitations: bool = False
    known: Known | None = None  # the batch's users, read ahead
    forms: dict[type, Any] = field(default_factory=dict)  # Context.form's, one of each class
    checked: dict[str, dict[str, Any]] = field(default_factory=dict)  # the dry run's passed forms (Context.check)

    def form(self, cls: type[F], values: dict[str, str], **attributes: Any) -> F:
        """A form of the class filled in with these values, as cls(formdata=values, **attributes) would be: one
        instance of each class, filled in again for each row (building a form costs more than planning a row)."""
        form: F | None = self.forms.get(cls)
        if form is None:
            built: F = cls(formdata=MultiDict(values), meta={"csrf": False}, **attributes)
            self.forms[cls] = built
            return built
        for name, value in attributes.items():
            setattr(form, name, value)
        form.process(MultiDict(values))
        return form

    def check(
        self, cls: type[F], values: dict[str, str], unique: tuple[str, ...], user_id: uuid.UUID | None = None
    ) -> tuple[dict[str, Any] | None, str, Checked | None]:
        """The form's data when the values pass it, else its problem as the row's message; and what a dry run
        keeps of a form passed (Checked), for its apply.

        A form's own rules are a function of the values alone; only its uniqueness checks (`unique`: its
        fields checked against the other users of the account, those of `user_id` excepted) read the
        database. Values the dry run saw pass (`checked`, by digest) are checked for uniqueness only."""
        digest = _digest(cls, values)
        data = self.checked.get(digest)
        if data is not None:
            problems = [
                f"{name.replace('_', ' ')}: {problem}"
                for name in unique
                if data.get(name) and (problem := queries.taken_problem(self.account.id, name, data[name], user_id))
            ]
            return (None, "; ".join(problems), None) if problems else (data, "", None)
        form = self.form(cls, values, account_id=self.account.id, **({"user_id": user_id} if user_id else {}))
        if not form.validate():
            return None, _form_problem(form), None
        data = {name: f.data for name, f in form._fields.items() if isinstance(f.data, str) or f.data is None}
        return data, "", Checked(digest, data)

    @classmethod
    def load(cls, account: Account, actor: Actor, send_invitations: bool) -> Context:
        roles = {r.name.lower(): r for r in db.session.scalars(select(Role).where(Role.account_id == account.id))}
        groups = {g.name.lower(): g for g in db.session.scalars(select(Group).where(Group.account_id == account.id))}
        return cls(account, actor, roles, groups, send_invitations)


@dataclass(frozen=True)
class Checked:
    """A form the values of a row passed in the dry run: the digest of the form and values, and its data."""

    digest: str
    data: dict[str, Any]


_CHECKED = "_checked"  # where a dry run's item keeps its Checked (beside the row's columns: none starts with _)


def _digest(cls: type, values: dict[str, str]) -> str:
    return hashlib.blake2b(
        json.dumps([cls.__name__, sorted(values.items())]).encode(), digest_size=16, usedforsecurity=False
    ).hexdigest()


@dataclass
class Plan:
    outcome: str  # created, updated, skipped, refused
    message: str
    email: str = ""
    user: User | None = None
    profile: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    expires_at: datetime | None = None
    checked: Checked | None = None  # the form the row passed (kept by a dry run for its apply)


def _refused(message: str, email: str = "") -> Plan:
    return Plan("refused", message, email)


def parse_expiry(raw: str) -> datetime:
    """A date (the grant lasts through that day, UTC) or an ISO time; Invalid when unreadable or past."""
    text = raw.strip()
    try:
        if len(text) == 10:
            moment = datetime.combine(datetime.fromisoformat(text).date() + timedelta(days=1), time(), UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        raise Invalid(f"{EXPIRES_COLUMN}: “{text[:40]}” is not a date (YYYY-MM-DD) or time.") from None
    if moment <= utcnow():
        raise Invalid(f"{EXPIRES_COLUMN}: {text} has passed.")
    return moment


def _names(raw: str) -> list[str]:
    return [_ROLE_NOTE.sub("", name).strip() for name in raw.split(";") if name.strip()]


def _form_problem(form: Any) -> str:
    return "; ".join(f"{name.replace('_', ' ')}: {errors[0]}" for name, errors in form.errors.items())


def _grants(ctx: Context, values: dict[str, str]) -> tuple[list[Role], list[Group]]:
    roles, groups = [], []
    for name in _names(values.get("roles", "")):
        role = ctx.roles.get(name.lower())
        if role is None:
            raise Invalid(f"Unknown role: {name}.")
        if Permission.ROLES_WRITE not in ctx.actor.permissions:
            raise Invalid("Granting roles needs the roles:write permission.")
        refusal = policy.refusal_to_grant(ctx.actor.permissions, role)
        if refusal:
            raise Invalid(refusal)
        roles.append(role)
    raw_groups = values.get("groups", "").strip()
    if not raw_groups.isdigit():  # the export writes a count there: nothing to add
        for name in _names(raw_groups):
            group = ctx.groups.get(name.lower())
            if group is None:
                raise Invalid(f"Unknown group: {name}.")
            if Permission.GROUPS_WRITE not in ctx.actor.permissions:
                raise Invalid("Adding people to groups needs the groups:write permission.")
            groups.append(group)
    return roles, groups


def _match(ctx: Context, values: dict[str, str], email: str) -> User | None:
    raw_id = values.get("id", "").strip()
    if raw_id:
        user_id = parse_uuid(raw_id)
        if user_id is None:
            raise Invalid(f"id: “{raw_id[:40]}” is not a user id.")
        if ctx.known is not None:
            user = ctx.known.by_id.get(user_id)
        else:
            user = db.session.scalar(select(User).where(User.id == user_id, User.account_id == ctx.account.id))
        if user is None:
            raise Invalid("id: no user of this account has this id.")
        return user
    if ctx.known is not None:
        return ctx.known.by_email.get(email)
    return db.session.scalar(select(User).where(User.account_id == ctx.account.id, User.email == email))


def plan_row(ctx: Context, values: dict[str, str]) -> Plan:
    """What importing the row would do, and why not when it would not (never writes)."""
    email = values.get("email", "").strip().lower()
    if not email and not values.get("id", "").strip():
        return _refused("email: the address is missing.")
    try:
        expires_at = parse_expiry(values[EXPIRES_COLUMN]) if values.get(EXPIRES_COLUMN, "").strip() else None
        roles, groups = _grants(ctx, values)
        user = _match(ctx, values, email)
    except DomainError as error:
        return _refused(error.message, email)
    if user is None:
        return _plan_new(ctx, values, email, roles, groups, expires_at)
    return _plan_update(ctx, values, user, roles, groups, expires_at)


def _plan_new(
    ctx: Context,
    values: dict[str, str],
    email: str,
    roles: list[Role],
    groups: list[Group],
    expires_at: datetime | None,
) -> Plan:
    if Permission.INVITATIONS_WRITE not in ctx.actor.permissions:
        return _refused("Adding people needs the invitations:write permission.", email)
    data, problem, checked = ctx.check(InviteeForm, values, ("login",))
    if data is None:
        return _refused(problem, email)
    note = "invited" + ("" if ctx.send_invitations else " (the invitation is not sent until you resend it)")
    profile = {name: data[name] or "" for name in PROFILE_FIELDS} | ({"login": data["login"]} if data["login"] else {})
    return Plan("created", note, data["email"] or email, None, profile, [], roles, groups, expires_at, checked)


def _plan_update(
    ctx: Context,
    values: dict[str, str],
    user: User,
    roles: list[Role],
    groups: list[Group],
    expires_at: datetime | None,
) -> Plan:
    known = ctx.known or Known.load(ctx.account.id, [values])
    refusal = policy.refusal_to_act_on(
        ctx.actor.user, ctx.actor.permissions, user, known.ranks.get(user.id, frozenset())
    )
    if refusal:
        return _refused(refusal, user.email)
    current = {name: getattr(user, name) or "" for name in ("login", "email", *PROFILE_FIELDS)}
    merged = {name: values.get(name, value) for name, value in current.items()}
    if not merged["login"].strip():
        merged["login"] = user.login
    data, problem, checked = ctx.check(UserProfileForm, merged, ("login", "email"), user.id)
    if data is None:
        return _refused(problem, user.email)
    profile = {"login": data["login"] or "", "email": data["email"] or ""} | {n: data[n] or "" for n in PROFILE_FIELDS}
    changed = [name for name, value in profile.items() if current[name] != value]
    held = known.roles.get(user.id, set())
    member_of = known.groups.get(user.id, set())
    new_roles = [role for role in roles if role.id not in held]
    new_groups = [group for group in groups if group.id not in member_of]
    if not (changed or new_roles or new_groups):
        return Plan("skipped", "Nothing to change.", user.email, user, checked=checked)
    if changed and user.status == UserStatus.PENDING:
        return _refused(user_services.InvitedUser(user).message, user.email)
    words = (
        ([f"changes {', '.join(c.replace('_', ' ') for c in changed)}"] if changed else [])
        + ([f"grants {', '.join(r.name for r in new_roles)}"] if new_roles else [])
        + ([f"adds to {', '.join(g.name for g in new_groups)}"] if new_groups else [])
    )
    return Plan(
        "updated",
        "; ".join(words),
        user.email,
        user,
        profile if changed else {},
        changed,
        new_roles,
        new_groups,
        expires_at,
        checked,
    )


def apply_plan(ctx: Context, plan: Plan) -> Plan:
    """Carry one row's plan out through the pages' services (in the caller's transaction); DomainError refuses
    (StaleEdit when the user changed since the plan read them)."""
    if plan.user is None:
        problem = _apply_together(ctx, [plan])
    else:
        with saving(plan.user, submitted=plan.profile):
            problem = _apply_together(ctx, [plan])
    if problem is not None:
        raise problem
    return plan


class _Refused(Exception):
    """A row of the batch was refused as it was carried out: the batch is carried out again row by row."""


def apply_plans(ctx: Context, plans: list[Plan]) -> list[Plan]:
    """Carry the batch's plans out together, in a constant number of statements for the batch (the batch forms
    of the pages' services); each plan's outcome, a row refused now (a race: the plans checked the rules
    already) undoing the batch, which is then carried out row by row, each row's refusal its own."""
    acting = [plan for plan in plans if plan.outcome in ("created", "updated")]
    try:
        with db.session.begin_nested():
            if _apply_together(ctx, acting) is not None:
                raise _Refused
    except (_Refused, DomainError, StaleDataError, IntegrityError):
        for plan in acting:
            if plan.user is not None:
                db.session.expire(plan.user)  # the batch's writes are undone: read them again
        return [_apply_alone(ctx, plan) for plan in plans]
    return plans


def _apply_alone(ctx: Context, plan: Plan) -> Plan:
    if plan.outcome not in ("created", "updated"):
        return plan
    try:
        with db.session.begin_nested():
            return apply_plan(ctx, plan)
    except DomainError as error:
        return _refused(error.message, plan.email)


def _apply_together(ctx: Context, plans: list[Plan]) -> DomainError | None:
    """Invite the plans' new people, then update the others' profiles, grant their roles and add them to their
    groups, each a batch; the first refusal, if any (what was written stays: the caller undoes it)."""
    from portal.invitations.services import Grants, Invitee, invite_each

    created = [plan for plan in plans if plan.outcome == "created"]
    if created:
        invitees = [Invitee(p.email, Grants(p.roles, p.groups, p.expires_at), p.profile) for p in created]
        outcome = invite_each(ctx.account, invitees, ctx.send_invitations, actor=ctx.actor)
        if outcome.refused:
            return Invalid(outcome.refused[0].reason)
    updated = [plan for plan in plans if plan.outcome == "updated" and plan.user is not None]
    edits = [user_services.ProfileEdit(p.user, p.profile, p.user.version) for p in updated if p.user and p.changed]
    _updates, refused = user_services.update_profiles(edits, actor=ctx.actor)
    grants = [roles.Grant(p.user, role, p.expires_at) for p in updated if p.user for role in p.roles]
    joinings = [groups.Joining(group, p.user, p.expires_at) for p in updated if p.user for group in p.groups]
    problems = [
        *refused.values(),
        *bulk.grant_each(grants, actor=ctx.actor).values(),
        *bulk.add_each(joinings, actor=ctx.actor).values(),
    ]
    return problems[0] if problems else None


# --- Starting ---------------------------------------------------------------------------------------------


def start_import(
    account_id: uuid.UUID,
    data: bytes,
    *,
    dry_run: bool,
    send_invitations: bool,
    actor: Actor,
    name: str = "",
    dry_run_job: uuid.UUID | None = None,
) -> Job:
    """Queue a dry run (or an apply) of the file; FileProblem, before any job, when the file is unusable.
    `dry_run_job`: the dry run of this file that the apply follows (its rows' forms are not checked again)."""
    _header, rows = parse(data)
    if not rows:
        raise FileProblem("The file has a header but no rows.")
    what = "Dry run" if dry_run else "Import"
    title = f"{what}: {len(rows):,} rows" + (f" of {name[:100]}" if name else "")
    return jobs.start_job(
        account_id,
        IMPORT,
        title,
        {
            "dry_run": dry_run,
            "send_invitations": send_invitations,
            "name": name[:100],
            **({"dry_run_job": str(dry_run_job)} if dry_run_job else {}),
        },
        files={INPUT: data},
        actor=actor,
    )


def apply_dry_run(account_id: uuid.UUID, raw_job_id: str, send_invitations: bool, *, actor: Actor) -> Job:
    """Apply the file of a finished dry run of the account (NotFound for anything else)."""
    from portal.jobs.queries import job_in_account

    job_id = parse_uuid(raw_job_id)
    if job_id is None:
        raise NotFound("No such dry run.")
    dry = job_in_account(account_id, job_id)
    if dry.kind != IMPORT or not dry.params.get("dry_run"):
        raise NotFound("No such dry run.")
    if dry.state != "done":
        raise Conflict("The dry run has not finished.")
    data = b"".join(jobs.read_file(dry.id, INPUT))
    return start_import(
        account_id,
        data,
        dry_run=False,
        send_invitations=send_invitations,
        actor=actor,
        name=dry.params.get("name", ""),
        dry_run_job=dry.id,
    )


# --- The job ----------------------------------------------------------------------------------------------


class ImportUsers:
    """A dry run (params dry_run) or an apply of an uploaded file: one item per row, its outcome the report."""

    def prepare(self, job: Job) -> None:
        data = b"".join(jobs.read_file(job.id, INPUT))
        try:
            _names, rows = parse(data)
        except FileProblem as problem:
            raise jobs.JobFailed(str(problem)) from None
        seen: dict[str, int] = {}

        def items() -> Any:
            for row in rows:
                if row.values is None:
                    yield {"label": f"row {row.line}", "outcome": "refused", "message": row.problem}
                    continue
                key = row.values.get("id", "").strip().lower() or row.values.get("email", "").strip().lower()
                label = f"row {row.line}: {row.values.get('email', '')[:200]}"
                if key and key in seen:
                    yield {
                        "label": label,
                        "outcome": "refused",
                        "message": f"The same person is on row {seen[key]} already.",
                    }
                    continue
                if key:
                    seen[key] = row.line
                yield {"label": label, "payload": row.values}

        job.total = jobs.add_items(job, items())

    def run(self, job: Job, limit: int) -> bool:
        items = jobs.pending_items(job, limit)
        if not items:
            return True
        actor = jobs.job_actor(job)
        account = db.session.get(Account, job.account_id)
        assert account is not None
        ctx = Context.load(account, actor, bool(job.params.get("send_invitations")))
        dry = bool(job.params.get("dry_run"))
        rows = [item.payload for item in items if item.payload is not None]
        if job.params.get("dry_run_job"):
            ctx.checked = _checked_by(uuid.UUID(job.params["dry_run_job"]), [item.seq for item in items])
        ctx.known = Known.load(account.id, rows)
        # The batch's uniqueness checks and ranks, read ahead in a few statements: the forms and services ask
        # the same questions as on the pages, and get their answers without a statement per row.
        values = [row.get(name, "").strip().lower() for row in rows for name in ("login", "email")]
        values += [u.login for u in ctx.known.by_id.values()] + [u.email for u in ctx.known.by_id.values()]
        with (
            db.session.no_autoflush,  # the items' outcomes are written together, once the batch is through
            queries.taken_read_ahead(account.id, values) as taken,
            policy.ranks_read_ahead(ctx.known.ranks),
        ):
            self._handle(job, ctx, items, dry, taken)
        return job.cursor >= job.total

    def _handle(
        self, job: Job, ctx: Context, items: list[jobs.PendingItem], dry: bool, taken: dict[str, set[uuid.UUID]]
    ) -> None:
        planned: dict[int, Plan] = {}
        for item in items:
            if item.outcome is None and item.payload is not None:
                plan = planned[item.seq] = plan_row(ctx, item.payload)
                if plan.outcome == "created" or plan.changed:  # later rows of the batch see it taken
                    queries.note_taken(
                        taken, plan.user.id if plan.user else uuid.uuid4(), plan.email, plan.profile.get("login", "")
                    )
        if dry:
            for item in items:
                checked = planned[item.seq].checked if item.seq in planned else None
                if checked is not None:
                    item.keep = {_CHECKED: [checked.digest, checked.data]}
        else:
            planned = dict(zip(planned, apply_plans(ctx, list(planned.values())), strict=True))
        for item in items:
            if item.seq in planned:
                item.outcome, item.message = planned[item.seq].outcome, planned[item.seq].message
        jobs.save_items(job, items)

    def finish(self, job: Job) -> None:
        counts = dict(
            db.session.execute(
                select(JobItem.outcome, func.count()).where(JobItem.job_id == job.id).group_by(JobItem.outcome)
            ).all()
        )
        job.result = {outcome: int(counts.get(outcome, 0)) for outcome in OUTCOMES}


def _checked_by(dry_run_id: uuid.UUID, seqs: list[int]) -> dict[str, dict[str, Any]]:
    """The forms the dry run's rows of these numbers passed (the same file: the same rows), by digest."""
    checked: dict[str, dict[str, Any]] = {}
    for (payload,) in db.session.execute(
        select(JobItem.payload).where(JobItem.job_id == dry_run_id, JobItem.seq.in_(seqs))
    ):
        kept = (payload or {}).get(_CHECKED)
        if kept:
            checked[kept[0]] = kept[1]
    return checked


jobs.register(IMPORT, ImportUsers())
