"""init, user, keys, retention: running the installation."""

from __future__ import annotations

import typer
from rich.table import Table

from ..governance.people import COUNTERSIGNED_ROLES
from .context import acting, overt
from .output import console, print_json

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")

user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
retention_app = typer.Typer(help="Deleting what has outlived its retention.", no_args_is_help=True)


def init(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Create the data directory, its keys and database, and the `admin` user."""
    info = overt(ctx).system.init()
    if as_json:
        print_json(info)
        return
    console.print(f"Overt data directory: [bold]{info['home']}[/bold]  (database {info['database']})")
    if info["admin_token"]:
        console.print(f"admin API token (shown once): [bold]{info['admin_token']}[/bold]")
        console.print(
            f"DPO [bold]{info['dpo']}[/bold] token (shown once; give it to the data protection officer, who "
            f"countersigns operational roles): [bold]{info['dpo_token']}[/bold]"
        )
    else:
        console.print("already initialised")


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: str,
    role: str = typer.Option(..., "--role"),
    person: str | None = typer.Option(None, "--person", help="The person the account belongs to (default NAME)."),
    as_json: bool = JsonOpt,
) -> None:
    """Create a user; prints the API token once. Operational roles stay pending until a DPO countersigns."""
    token = overt(ctx).system.add_user(acting(ctx), name, role, person)
    status = "pending" if role in COUNTERSIGNED_ROLES else "active"
    if as_json:
        print_json({"name": name, "role": role, "token": token, "status": status})
    else:
        console.print(f"user [bold]{name}[/bold] ({role}, {status}); API token (shown once): {token}")
        if status == "pending":
            console.print(f"a DPO countersigns it with: overt --as DPO user approve {name}")


@user_app.command("approve")
def user_approve(ctx: typer.Context, name: str, as_json: bool = JsonOpt) -> None:
    """Countersign a pending account (the DPO; never your own person's)."""
    info = overt(ctx).system.approve_user(acting(ctx), name)
    print_json(info) if as_json else console.print(f"user {name} ({info['role']}) is {info['status']}")


@user_app.command("list")
def user_list(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    users = overt(ctx).system.users(acting(ctx))
    if as_json:
        print_json(users)
        return
    table = Table("name", "role", "person", "status", "created")
    for u in users:
        status = "disabled" if u["disabled"] else u["status"]
        table.add_row(u["name"], u["role"], u["person"], status, u["created"][:19])
    console.print(table)


@user_app.command("token")
def user_token(ctx: typer.Context, name: str, as_json: bool = JsonOpt) -> None:
    """Issue a new API token (the old one stops working at once); printed once."""
    token = overt(ctx).system.reset_token(acting(ctx), name)
    print_json({"name": name, "token": token}) if as_json else console.print(f"new API token for {name}: {token}")


@user_app.command("disable")
def user_disable(ctx: typer.Context, name: str, reason: str = typer.Option(..., "--reason")) -> None:
    """Disable a user: their token and console sessions stop working at once."""
    overt(ctx).system.disable_user(acting(ctx), name, reason)
    console.print(f"user {name} disabled")


@keys_app.command("rotate")
def keys_rotate(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Re-encrypt every template and image under a new key."""
    counts = overt(ctx).system.rotate_key(acting(ctx))
    if as_json:
        print_json(counts)
    else:
        console.print(f"re-encrypted {counts['templates']} templates and {counts['images']} images under a new key")


@retention_app.command("run")
def retention_run(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Purge expired alerts, evidence, subjects, watchlists and lapsed urgent deployments' products."""
    counts = overt(ctx).system.retention(acting(ctx))
    if as_json:
        print_json(counts)
    else:
        console.print("deleted: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.add_typer(user_app, name="user")
    app.add_typer(keys_app, name="keys")
    app.add_typer(retention_app, name="retention")
