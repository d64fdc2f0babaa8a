"""Operator commands: flask --app app portal migrate [--check] | create-account | demo | worker (send-mail)."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal import db

portal_cli = AppGroup("portal", help="Account Portal operations.")


@portal_cli.command("migrate")
@click.option(
    "--check", is_flag=True, help="Change nothing; exit 1 when the schema is behind this code (for deploy scripts)."
)
def migrate_command(check: bool) -> None:
    """Bring the database schema up to date (or, with --check, say whether it is)."""
    from portal import migrate  # Alembic: loaded by the commands that migrate, not by every web worker

    if not check:
        migrate.upgrade(current_app)
        click.echo("Database is up to date.")
        return
    with current_app.extensions["portal.engine"].connect() as connection:
        state = migrate.schema_state(connection)
    database, code = ", ".join(state.database) or "empty", ", ".join(state.code)
    if state.status == "current":
        click.echo(f"Schema is up to date ({code}).")
    elif state.status == "ahead":
        click.echo(f"Schema is ahead of this code (database {database}, code {code}): a newer release migrated it.")
    else:
        click.echo(f"Schema is behind (database {database}, code {code}): run `flask portal migrate`.", err=True)
        raise SystemExit(1)


@portal_cli.command("create-account")
@click.option("--name", required=True, help="The account's name.")
@click.option("--sign-in-name", default=None, help="The short name its people sign in to (default: made from --name).")
@click.option("--login", required=True, help="The owner's login name.")
@click.option("--email", required=True, help="The owner's email address.")
@click.option("--first-name", default="", help="The owner's first name.")
@click.option("--last-name", default="", help="The owner's last name.")
@click.password_option(help="The owner's password (asked for when not given).")
def create_account_command(
    name: str, sign_in_name: str | None, login: str, email: str, first_name: str, last_name: str, password: str
) -> None:
    """Create an account with its owner."""
    from portal import migrate
    from portal.accounts import sign_in_names
    from portal.accounts.services import OwnerDetails, create_account
    from portal.auth.passwords import password_problems
    from portal.mail.outbox import external_url

    problems = password_problems(password, [login, email, name])
    if problems:
        raise click.BadParameter(problems[0], param_hint="--password")
    migrate.upgrade(current_app)
    if sign_in_name is not None:
        sign_in_name = sign_in_names.normalise(sign_in_name)
        if not sign_in_names.is_valid(sign_in_name):
            raise click.BadParameter(sign_in_names.MESSAGE, param_hint="--sign-in-name")
        if sign_in_names.is_taken(sign_in_name):
            raise click.BadParameter("Another account already uses this sign-in name.", param_hint="--sign-in-name")
    account, owner = create_account(name, OwnerDetails(login, email, password, first_name, last_name), sign_in_name)
    db.session.commit()
    click.echo(f"Created account {account.name!r} ({account.id}); owner {owner.login} <{owner.email}>.")
    click.echo(f"Its people sign in at {external_url('auth.account_login', sign_in_name=account.sign_in_name)}")


@portal_cli.command("demo")
@click.option("--users", "user_count", default=50, show_default=True, help="How many users besides the owner.")
def demo_command(user_count: int) -> None:
    """Seed a demo account (kept if it exists) and print how to sign in."""
    from portal import migrate
    from portal.demo import DEMO_LOGIN, DEMO_PASSWORD, seed_demo
    from portal.mail.outbox import external_url

    migrate.upgrade(current_app)
    account = seed_demo(user_count)
    db.session.commit()
    link = external_url("auth.account_login", sign_in_name=account.sign_in_name)
    click.echo(f"Demo account {account.name!r} (sign-in name {account.sign_in_name!r}) is ready.")
    click.echo(f"Sign in at {link} with login {DEMO_LOGIN!r} and password {DEMO_PASSWORD!r}.")


def _worker_options(command: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--once", is_flag=True, help="One batch of each duty, then exit."),
        click.option(
            "--interval", default=5.0, show_default=True, help="Seconds between outbox passes when nothing is due."
        ),
        click.option("--batch", default=50, show_default=True, help="Emails claimed per pass."),
        click.option(
            "--sweep-interval",
            default=3600.0,
            show_default=True,
            help="Seconds between retention sweeps (each sweep deletes in batches until done).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@portal_cli.command("worker")
@_worker_options
def worker_command(once: bool, interval: float, batch: int, sweep_interval: float) -> None:
    """Deliver the outbox over SMTP and sweep old rows, until SIGTERM (several workers may run side by side)."""
    from portal.worker import run

    run(once=once, interval=interval, batch=batch, sweep_interval=sweep_interval, echo=click.echo)


@portal_cli.command("send-mail")
@_worker_options
def send_mail_command(once: bool, interval: float, batch: int, sweep_interval: float) -> None:
    """The worker under its former name (see `worker`)."""
    worker_command.callback(
        once=once,
        interval=interval,
        batch=batch,  # type: ignore[misc]
        sweep_interval=sweep_interval,
    )


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(portal_cli)
