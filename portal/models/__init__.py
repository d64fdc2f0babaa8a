"""All models, imported together so that relationships and Alembic see every table."""

from portal.models.account import Account, AccountUserCount
from portal.models.audit import AuditEvent
from portal.models.credentials import ApiKey, IdempotencyKey, OwnershipTransfer, PasswordResetToken, RecoveryCode
from portal.models.email_change import EmailChange
from portal.models.group import Group, GroupMember
from portal.models.invitation import Invitation, InvitationGroup, InvitationRole, InvitationStatus
from portal.models.job import Job, JobFile, JobItem, JobState
from portal.models.login_session import LoginSession
from portal.models.login_throttle import LoginThrottle
from portal.models.outbox import EmailStatus, OutboxEmail
from portal.models.provisioning import ProvisioningToken, ScimRequest
from portal.models.role import Role, RoleAssignment
from portal.models.sso import SsoAuthRequest, SsoConnection, SsoGroupMapping, SsoIdentity, SsoRecoveryCode
from portal.models.user import User, UserStatus

__all__ = [
    "Account",
    "AccountUserCount",
    "ApiKey",
    "IdempotencyKey",
    "OwnershipTransfer",
    "PasswordResetToken",
    "RecoveryCode",
    "AuditEvent",
    "EmailChange",
    "EmailStatus",
    "OutboxEmail",
    "Group",
    "GroupMember",
    "Invitation",
    "InvitationGroup",
    "InvitationRole",
    "InvitationStatus",
    "Job",
    "JobFile",
    "JobItem",
    "JobState",
    "LoginSession",
    "LoginThrottle",
    "ProvisioningToken",
    "Role",
    "ScimRequest",
    "RoleAssignment",
    "SsoAuthRequest",
    "SsoConnection",
    "SsoGroupMapping",
    "SsoIdentity",
    "SsoRecoveryCode",
    "User",
    "UserStatus",
]
