"""Operator commands: flask --app app portal migrate | create-account | demo."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal import db, migrate

portal_cli = AppGroup("portal", help="Account Portal operations.")


@portal_cli.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date."""
    migrate.upgrade(current_app)
    click.echo("Database is up to date.")


@portal_cli.command("create-account")
@click.option("--name", required=True, help="The account's name.")
@click.option("--sign-in-name", default=None, help="The short name its people sign in to (default: made from --name).")
@click.option("--login", required=True, help="The owner's login name.")
@click.option("--email", required=True, help="The owner's email address.")
@click.option("--first-name", default="", help="The owner's first name.")
@click.option("--last-name", default="", help="The owner's last name.")
@click.password_option(help="The owner's password (asked for when not given).")
def create_account_command(name: str, sign_in_name: str | None, login: str, email: str, first_name: str,
                           last_name: str, password: str) -> None:
    """Create an account with its owner."""
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
    from portal.demo import DEMO_LOGIN, DEMO_PASSWORD, seed_demo
    from portal.mail.outbox import external_url

    migrate.upgrade(current_app)
    account = seed_demo(user_count)
    db.session.commit()
    link = external_url("auth.account_login", sign_in_name=account.sign_in_name)
    click.echo(f"Demo account {account.name!r} (sign-in name {account.sign_in_name!r}) is ready.")
    click.echo(f"Sign in at {link} with login {DEMO_LOGIN!r} and password {DEMO_PASSWORD!r}.")


@portal_cli.command("send-mail")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes when looping.")
@click.option("--batch", default=50, show_default=True, help="Emails claimed per pass.")
def send_mail_command(once: bool, interval: float, batch: int) -> None:
    """Deliver the outbox over SMTP (several workers may run side by side)."""
    from portal.mail.worker import run

    run(once=once, interval=interval, batch=batch, echo=click.echo)


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(portal_cli)
