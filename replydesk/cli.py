"""The ``replydesk`` command line: the user's entry point to knowledge, queue, server and evals."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ground import heap
from ground.settings import get_settings
from replydesk import cli_knowledge

app = typer.Typer(help="Replydesk: grounded reply drafts behind a human approval queue.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()
err = Console(stderr=True)

WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace (default: settings).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


def _configure_logging() -> None:
    from ground.logs import configure_logging

    configure_logging(get_settings().log_format)


def _store() -> Any:
    from knowledge.store import KnowledgeStore

    return KnowledgeStore(get_settings())


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from desk.db import migrate as run_migrations

    run_migrations(get_settings())
    console.print("database is up to date")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin | cm | viewer")] = "cm",
    name: Annotated[str, typer.Option(help="Who or what uses the key.")] = "",
    workspace: Annotated[list[str] | None, typer.Option(
        "--workspace", help="A workspace the key may act in (repeat for several). Without it the key is "
                            "installation-wide ('*'), as keys made before workspaces scoped them were.",
    )] = None,
) -> None:
    """Create an API key; it is shown once and stored only as a hash."""
    from desk.errors import DeskError
    from desk.keys import ROLES, create_key
    from desk.scope import INSTALLATION, Scope
    from replydesk.cli_common import migrated_engine

    if role not in ROLES:
        _fail(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    scope = INSTALLATION
    if workspace:
        try:
            scope = Scope.of(workspace)
        except DeskError as exc:
            _fail(exc.detail)
    print(create_key(migrated_engine(), role, name or role, workspaces=scope))


@app.command("load-messages")
def load_messages(
    path: Annotated[Path, typer.Argument(help="JSONL of inbound messages (the POST /v1/messages shape).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Queue inbound messages from a file, as POST /v1/messages would."""
    from pydantic import ValidationError

    from desk.inbound import MessageCreate
    from desk.queue import submit_message
    from desk.scope import INSTALLATION
    from replydesk.cli_common import migrated_engine

    settings = get_settings()
    engine = migrated_engine()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{path}: {exc}")
        return
    bodies = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                bodies.append(MessageCreate.model_validate_json(line))
            except ValidationError as exc:
                _fail(f"{path}:{number}: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}")
    created = sum(submit_message(engine, b, b.workspace or workspace or settings.workspace,
                                 scope=INSTALLATION)[1] for b in bodies)
    console.print(f"queued {created} new messages ({len(bodies) - created} already known)")


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Run the HTTP API with its in-process worker and delivery relay."""
    import uvicorn

    from api.app import create_app

    _configure_logging()
    settings = get_settings()
    composer = "LLM at " + str(settings.llm_base_url) if settings.llm_enabled else "offline composer"
    err.print(f"Replydesk on http://{host}:{port}  (drafting with the {composer}; data in {settings.data_dir})")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False)


@app.command()
def worker() -> None:
    """Run a standalone job worker (no HTTP)."""
    from agent.runner import ReplyRunner
    from desk.worker import Worker
    from replydesk.cli_common import migrated_engine, run_until_interrupted

    _configure_logging()
    settings = get_settings()
    heap.limit_arenas(settings.malloc_arenas)
    engine = migrated_engine()
    runner = ReplyRunner(settings)
    run_until_interrupted(Worker(settings, engine, runner).run_forever, runner.close)


from replydesk import cli_queue  # noqa: E402  (queue operations: keys list/revoke, relay)

keys_app.command("list")(cli_queue.keys_list)
keys_app.command("revoke")(cli_queue.keys_revoke)
app.command("relay")(cli_queue.relay)

from replydesk.cli_insights import insights_app  # noqa: E402  (sub-commands register on import)

app.add_typer(insights_app, name="insights")


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


# Agent commands (issue 4): team intent taxonomies and batch triage.
from replydesk.cli_agent import intents_app, triage  # noqa: E402

app.add_typer(intents_app, name="intents")
app.command()(triage)

from replydesk.cli_evals import eval_app  # noqa: E402  (at the bottom: one registration line per area)

app.add_typer(eval_app, name="eval")
for _command in (cli_knowledge.ingest, cli_knowledge.search, cli_knowledge.reindex, cli_knowledge.documents):
    app.command()(_command)

from replydesk.cli_connectors import connectors_app  # noqa: E402

app.add_typer(connectors_app, name="connectors")

if __name__ == "__main__":
    main()
