"""CLI for the queue's operations: listing and revoking API keys, and a standalone delivery relay."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ground.settings import get_settings
from replydesk.cli_common import migrated_engine, run_until_interrupted

console = Console()
err = Console(stderr=True)


def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List API keys (prefix, role, workspaces, last use); the keys themselves are never stored."""
    from desk.keys import list_keys

    rows = list_keys(migrated_engine())
    if as_json:
        for r in rows:
            print(json.dumps({"id": r.id, "name": r.name, "prefix": r.prefix, "role": r.role,
                              "workspaces": r.workspaces.split(","), "created_at": r.created_at.isoformat(),
                              "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
                              "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None}))
        return
    table = Table("id", "name", "prefix", "role", "workspaces", "created", "last used", "revoked")
    for r in rows:
        table.add_row(str(r.id), r.name, r.prefix + "…", r.role, r.workspaces.replace(",", ", "),
                      f"{r.created_at:%Y-%m-%d %H:%M}",
                      f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "-",
                      f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "")
    console.print(table)


def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id, or its prefix as `keys list` shows it.")],
) -> None:
    """Revoke an API key; requests with it fail from the next one on."""
    from desk.keys import revoke_key

    try:
        record = revoke_key(migrated_engine(), key.rstrip("…"))
    except KeyError as exc:
        err.print(f"[red]error:[/red] {exc.args[0]}")
        raise typer.Exit(code=1) from None
    console.print(f"revoked key {record.id} ({record.prefix}…, {record.role})")


def relay() -> None:
    """Run a standalone delivery relay (no HTTP); several may run at once."""
    from connectors.delivery import ConnectorSender
    from desk.relay import Relay
    from ground.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_format)
    engine = migrated_engine()
    runner = Relay(settings, engine, platforms=ConnectorSender(settings, engine))
    run_until_interrupted(runner.run_forever, runner.close)
