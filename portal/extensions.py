"""Flask extensions, created unbound and initialised by create_app()."""

from flask_htmx import HTMX
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
htmx = HTMX()
login_manager = LoginManager()
