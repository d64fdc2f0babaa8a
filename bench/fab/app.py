"""The peer: a minimal Flask-AppBuilder 5 application, run from its own virtualenv (bench/.venv-fab).

Its database is FAB_DATABASE_URL; its users list is FAB's own /users/list/ (UserDBModelView).
"""

from __future__ import annotations

import os

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_appbuilder.const import AUTH_DB
from flask_appbuilder.models.sqla.base import SQLA

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("FAB_SECRET_KEY", "bench-fab-secret-key-bench-fab-secret-key"),
    SQLALCHEMY_DATABASE_URI=os.environ["FAB_DATABASE_URL"],
    SQLALCHEMY_TRACK_MODIFICATIONS=False,
    AUTH_TYPE=AUTH_DB,
    APP_NAME="FAB peer",
    # Creating the tables and syncing permissions is done once, by `flask fab create-db` / create-admin;
    # the gunicorn workers do not redo it at start-up.
    FAB_UPDATE_PERMS=os.environ.get("FAB_UPDATE_PERMS", "1") == "1",
)
db = SQLA(app)
with app.app_context():  # FAB 5 reads its settings through current_app
    appbuilder = AppBuilder(app, db.session)
