"""Flask extensions, created unbound and initialised by create_app()."""

from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
htmx = HTMX()
login_manager = LoginManager()
# Rate limits (views declare them with @rate_limited; portal.rate_limits says how much); storage:
# RATELIMIT_STORAGE_URI.
# While the storage (Redis) is unreachable, each process counts in its own memory (logged) and goes back
# to the storage once it answers again: limits fail open to per-process counts, never to no limit at all,
# and the database lockout still guards sign-in (docs/operations.md).
limiter = Limiter(
    get_remote_address,
    key_prefix="portal",
    strategy="moving-window",
    swallow_errors=True,
    headers_enabled=False,
    in_memory_fallback_enabled=True,
)
