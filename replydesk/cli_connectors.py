"""``replydesk connectors ...``: add, list, test and remove platform connectors; run the pollers and bots.

Credentials never go on the command line: ``--secret NAME=env:VAR`` names an environment variable the
server reads, and ``--secret NAME`` prompts for the value (hidden) and stores it encrypted."""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ground.settings import get_settings
from replydesk.cli_common import migrated_engine, run_until_interrupted

connectors_app = typer.Typer(help="Platform connectors (Discord, Reddit, Meta, Discourse) per workspace.",
                             no_args_is_help=True)
console = Console()
err = Console(stderr=True)
LIST_KEYS = {"subreddits", "channels", "categories"}
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _actor() -> tuple[str, str]:
    return (f"cli:{getpass.getuser()}", "admin")


def _value(key: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return [v.strip() for v in raw.split(",") if v.strip()] if key in LIST_KEYS else raw


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


@connectors_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name for this connector (lower-case, digits, '-').")],
    platform: Annotated[str, typer.Option(help="discord | reddit | meta | discourse")],
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace (default: settings).")] = None,
    setting: Annotated[list[str] | None, typer.Option("--set", help="key=value (JSON or text; lists: a,b).")] = None,
    secret: Annotated[list[str] | None, typer.Option(
        "--secret", help="NAME=env:VAR (the server's environment) or NAME (prompted, stored encrypted).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a connector; the answer shows where each credential comes from, never its value."""
    from connectors.config import Credential, add_connector, public_view
    from desk.errors import DeskError
    from desk.scope import INSTALLATION

    config: dict[str, Any] = {}
    for item in setting or []:
        key, sep, raw = item.partition("=")
        if not sep:
            _fail(f"--set {item!r}: expected key=value")
        config[key.strip()] = _value(key.strip(), raw)
    credentials: dict[str, Credential] = {}
    for item in secret or []:
        key, sep, ref = item.partition("=")
        if sep and ref.startswith("env:"):
            credentials[key] = Credential(env=ref[4:])
        elif sep:
            _fail(f"--secret {key}=…: give env:VARIABLE, or --secret {key} alone to be prompted (never the value)")
        else:
            credentials[key] = Credential(value=typer.prompt(f"{key}", hide_input=True, err=True))
    settings = get_settings()
    try:
        row = add_connector(settings, migrated_engine(), workspace=workspace or settings.workspace, name=name,
                            platform=platform, config=config, credentials=credentials, actor=_actor(),
                            scope=INSTALLATION)
    except DeskError as exc:
        _fail(str(exc))
        return
    view = public_view(row)
    if as_json:
        console.print_json(json.dumps(view))
        return
    console.print(f"added connector {view['id']} ({view['platform']}) '{view['name']}' in {view['workspace']}")
    if view["events_path"]:
        console.print(f"point the platform's webhook at: <your server>{view['events_path']}")


@connectors_app.command("list")
def list_(
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Only this workspace.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Connectors with their settings, where credentials come from, and what each supports."""
    from connectors.config import list_connectors, public_view
    from desk.scope import INSTALLATION

    views = [public_view(r) for r in list_connectors(migrated_engine(), scope=INSTALLATION, workspace=workspace)]
    if as_json:
        console.print_json(json.dumps(views))
        return
    table = Table("id", "workspace", "name", "platform", "intake", "credentials", "supports", "last error")
    for v in views:
        caps = v["capabilities"]
        supports = ", ".join(k for k in ("reply", "dm", "edit", "delete", "reactions", "thread_context") if caps[k])
        table.add_row(str(v["id"]), v["workspace"], v["name"], v["platform"], v["intake"],
                      "\n".join(f"{k}: {d}" for k, d in v["credentials"].items()), supports, v["last_error"] or "")
    console.print(table)


@connectors_app.command("test")
def test(connector_id: Annotated[int, typer.Argument(help="The connector's id (connectors list).")],
         as_json: JsonOpt = False) -> None:
    """Check credentials and permissions against the platform; says exactly what is missing."""
    from connectors.config import test_connector
    from desk.errors import DeskError
    from desk.scope import INSTALLATION

    try:
        checks = test_connector(get_settings(), migrated_engine(), connector_id, scope=INSTALLATION)
    except DeskError as exc:
        _fail(str(exc))
        return
    if as_json:
        console.print_json(json.dumps([c.__dict__ for c in checks]))
    else:
        for check in checks:
            mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
            console.print(f"{mark} {check.name}: {check.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(code=1)


@connectors_app.command("remove")
def remove(connector_id: Annotated[int, typer.Argument(help="The connector's id.")]) -> None:
    """Stop a connector (replies to messages it already took still go out)."""
    from connectors.config import remove_connector
    from desk.errors import DeskError
    from desk.scope import INSTALLATION

    try:
        row = remove_connector(migrated_engine(), connector_id, _actor(), scope=INSTALLATION)
    except DeskError as exc:
        _fail(str(exc))
        return
    console.print(f"removed connector {row.id} '{row.name}'")


@connectors_app.command("poll")
def poll(connector_id: Annotated[int | None, typer.Argument(help="One connector (default: every pull one).")] = None,
         once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False) -> None:
    """Run the pollers (Reddit) from their cursors: once, or every REPLYDESK_CONNECTOR_POLL_SECONDS."""
    import threading

    from connectors.runner import ConnectorRunner
    from ground.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_format)
    runner = ConnectorRunner(settings, migrated_engine())

    def passes(stop: threading.Event) -> None:
        while True:
            for name, intake in runner.poll_once(connector_id).items():
                console.print(f"{name}: {len(intake.accepted)} new, {len(intake.duplicates)} seen, "
                              f"{len(intake.ignored)} ignored")
            if once or stop.wait(settings.connector_poll_seconds):
                return

    run_until_interrupted(passes, runner.close)


@connectors_app.command("run")
def run() -> None:
    """Run every pull and gateway connector (pollers and Discord bots) without the API."""
    from connectors.runner import ConnectorRunner
    from ground.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_format)
    runner = ConnectorRunner(settings, migrated_engine())
    run_until_interrupted(runner.run_forever, runner.close)
