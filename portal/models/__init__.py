"""All models, imported together so that relationships and Alembic see every table."""

from portal.models.account import Account, AccountUserCount
from portal.models.audit import AuditEvent
from portal.models.group import Group, GroupMember
from portal.models.login_session import LoginSession
from portal.models.outbox import EmailStatus, OutboxEmail
from portal.models.role import Role, RoleAssignment
from portal.models.user import User, UserStatus

__all__ = [
    "Account",
    "AccountUserCount",
    "AuditEvent",
    "EmailStatus",
    "OutboxEmail",
    "Group",
    "GroupMember",
    "LoginSession",
    "Role",
    "RoleAssignment",
    "User",
    "UserStatus",
]
