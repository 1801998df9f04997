"""``planner user``: accounts of the web server (add, list, remove, set-role, password, token)."""

from __future__ import annotations

import sys

import click

from planner import accounts
from planner.cli.common import JSON, STORE, echo_json, main, user_errors, writes
from planner.errors import InputError

__all__ = ["user_group"]

_PASSWORD_STDIN = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)


def _password(from_stdin: bool) -> str:
    """The new password: from stdin's first line, or asked twice on the terminal."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InputError("no password on standard input", param="password")
        return line
    return click.prompt("password", hide_input=True, confirmation_prompt=True, err=True)


@main.group("user")
def user_group() -> None:
    """Accounts of the web server (用户): roles viewer, official, planner, admin."""


@writes("the store's account tables")
@user_group.command("add")
@STORE
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(accounts.ROLES), help="The role.")
@_PASSWORD_STDIN
@user_errors
def add_command(store_path, name, role, password_stdin):
    """Make account NAME in STORE with a role and a password."""
    user = accounts.add_user(store_path, name, role, _password(password_stdin))
    click.echo(f"added {user.name} ({user.role})")


@writes("nothing")
@user_group.command("list")
@STORE
@JSON
@user_errors
def list_command(store_path, as_json):
    """Every account of STORE: name, role, when made."""
    users = accounts.list_users(store_path)
    if as_json:
        echo_json([accounts.describe(u) for u in users])
        return
    if not users:
        click.echo("no accounts: `planner serve` on this machine prints a one-time login URL")
    for user in users:
        click.echo(f"{user.name:<24} {user.role:<9} {user.created}")


@writes("the store's account tables")
@user_group.command("remove")
@STORE
@click.argument("name")
@user_errors
def remove_command(store_path, name):
    """Remove account NAME and its API tokens."""
    accounts.remove_user(store_path, name)
    click.echo(f"removed {name}")


@writes("the store's account tables")
@user_group.command("set-role")
@STORE
@click.argument("name")
@click.argument("role", type=click.Choice(accounts.ROLES))
@user_errors
def set_role_command(store_path, name, role):
    """Give account NAME the role ROLE."""
    user = accounts.set_role(store_path, name, role)
    click.echo(f"{user.name} is now {user.role}")


@writes("the store's account tables")
@user_group.command("reset-password")
@STORE
@click.argument("name")
@_PASSWORD_STDIN
@user_errors
def reset_password_command(store_path, name, password_stdin):
    """Set a new password for account NAME."""
    if accounts.get_user(store_path, name) is None:
        raise InputError(f"no user {name!r}", param="name")
    accounts.reset_password(store_path, name, _password(password_stdin))
    click.echo(f"new password set for {name}")


@writes("the store's account tables (the new token's digest)")
@user_group.command("token")
@STORE
@click.argument("name")
@user_errors
def token_command(store_path, name):
    """Print a new API token of NAME (Authorization: Bearer, or the password of basic auth)."""
    click.echo(accounts.make_token(store_path, name))
