"""The ``replydesk`` command line: the user's entry point to knowledge, queue, server and evals."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from replydesk.settings import get_settings

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
    from api.logs import configure_logging

    configure_logging(get_settings().log_format)


def _store() -> Any:
    from knowledge.store import KnowledgeStore

    return KnowledgeStore(get_settings())


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to ingest.")],
    workspace: WorkspaceOpt = None,
    kind: Annotated[str, typer.Option(help="faq|guideline|policy|review|other|auto")] = "auto",
    prune: Annotated[bool, typer.Option("--prune", help="Remove chunks whose source vanished.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Ingest FAQ files, documents and guidelines into the knowledge base (idempotent)."""
    from knowledge.errors import KnowledgeError
    from knowledge.ingest import ingest_paths

    ws = workspace or get_settings().workspace
    try:
        with Progress(console=err, transient=True, disable=as_json) as progress:
            task = progress.add_task("reading files", total=None)
            report = ingest_paths(
                _store(), paths, ws, kind=kind, prune=prune, on_file=lambda p: progress.advance(task)
            )
    except KnowledgeError as exc:
        _fail(str(exc))
        return
    if as_json:
        print(report.model_dump_json())
        return
    console.print(
        f"[bold]{ws}[/bold]: {report.files} files, {report.chunks} chunks — "
        f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
        f"removed {report.removed} ({report.seconds:.1f}s)"
    )


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    context: Annotated[str | None, typer.Option(help="Thread context the query refers to.")] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=50)] = 5,
    workspace: WorkspaceOpt = None,
    batch: Annotated[Path | None, typer.Option(help="JSONL of {id, query, context?} lines.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the knowledge base: ranked hits with ids, scores and sources."""
    from knowledge.errors import KnowledgeError
    from knowledge.search import search_knowledge

    ws = workspace or get_settings().workspace
    store = _store()
    try:
        if batch is not None:
            for number, line in enumerate(batch.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    hits = search_knowledge(store, str(item["query"]), ws, k=k, context=item.get("context"))
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    _fail(f"{batch}:{number}: expected {{\"id\", \"query\", \"context\"?}}: {exc}")
                    return
                out = [{"id": h.id, "score": h.score, "kind": h.kind, "source": h.source} for h in hits]
                print(json.dumps({"id": item.get("id"), "hits": out}))
            return
        if not query:
            _fail("give a QUERY or --batch FILE")
            return
        hits = search_knowledge(store, query, ws, k=k, context=context)
    except (KnowledgeError, OSError) as exc:
        _fail(str(exc))
        return
    if as_json:
        print(json.dumps([h.model_dump(exclude={"attrs"}) for h in hits]))
        return
    table = Table("score", "id", "kind", "source", "text")
    for h in hits:
        table.add_row(f"{h.score:.3f}", h.id, h.kind, h.source, h.text[:80].replace("\n", " "))
    console.print(table)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from api.db import migrate as run_migrations

    run_migrations(get_settings())
    console.print("database is up to date")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin | cm | viewer")] = "cm",
    name: Annotated[str, typer.Option(help="Who or what uses the key.")] = "",
) -> None:
    """Create an API key; it is shown once and stored only as a hash."""
    from api.auth import ROLES, create_key
    from api.db import make_engine
    from api.db import migrate as run_migrations

    if role not in ROLES:
        _fail(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    settings = get_settings()
    run_migrations(settings)
    print(create_key(make_engine(settings), role, name or role))


@app.command("load-messages")
def load_messages(
    path: Annotated[Path, typer.Argument(help="JSONL of inbound messages (the POST /v1/messages shape).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Queue inbound messages from a file, as POST /v1/messages would."""
    from pydantic import ValidationError

    from api.db import make_engine
    from api.db import migrate as run_migrations
    from api.queue import submit_message
    from api.schemas import MessageCreate

    settings = get_settings()
    run_migrations(settings)
    engine = make_engine(settings)
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
    created = sum(submit_message(engine, b, b.workspace or workspace or settings.workspace)[1] for b in bodies)
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
    import threading

    from agent.runner import ReplyRunner
    from api.db import make_engine
    from api.db import migrate as run_migrations
    from api.worker import Worker

    _configure_logging()
    settings = get_settings()
    run_migrations(settings)
    runner = ReplyRunner(settings)
    stop = threading.Event()
    try:
        Worker(settings, make_engine(settings), runner).run_forever(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        runner.close()


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

if __name__ == "__main__":
    main()
