"""Knowledge commands: ``replydesk ingest``, ``search``, ``reindex`` and ``documents``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ground.settings import get_settings

console = Console()
err = Console(stderr=True)
WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace (default: settings).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code=1)


def _store() -> Any:
    from knowledge.store import KnowledgeStore

    return KnowledgeStore(get_settings())


def _progress(as_json: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True, disable=as_json)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to ingest.")],
    workspace: WorkspaceOpt = None,
    kind: Annotated[str, typer.Option(help="faq|guideline|policy|review|other|auto")] = "auto",
    prune: Annotated[bool, typer.Option("--prune", help="Remove chunks whose source vanished.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Ingest FAQ files, documents and guidelines (md, txt, html, pdf, csv, jsonl, json); idempotent."""
    from knowledge.errors import KnowledgeError
    from knowledge.ingest import ingest_paths
    from knowledge.loaders import iter_files

    ws = workspace or get_settings().workspace
    try:
        total = len(iter_files(paths))
        with _progress(as_json) as progress:
            reading = progress.add_task("reading files", total=total)
            embedding = progress.add_task("embedding changed chunks", total=None, visible=False)

            def on_embed(done: int, todo: int) -> None:
                progress.update(embedding, completed=done, total=todo, visible=True)

            report = ingest_paths(_store(), paths, ws, kind=kind, prune=prune,
                                  on_file=lambda p: progress.advance(reading), on_embed=on_embed)
    except KnowledgeError as exc:
        _fail(str(exc))
        return
    if as_json:
        print(report.model_dump_json())
        return
    table = Table("document", "chunks", "flagged", title=f"workspace {ws}")
    for doc in report.documents:
        table.add_row(doc.source, str(doc.chunks), f"[yellow]{doc.flagged}[/yellow]" if doc.flagged else "0")
    if len(report.documents) <= 30:
        console.print(table)
    console.print(
        f"[bold]{ws}[/bold]: {report.files} files, {report.chunks} chunks — added {report.added}, "
        f"updated {report.updated}, unchanged {report.unchanged}, removed {report.removed}; "
        f"embedded {report.embedded} texts in {report.embed_seconds:.1f}s of {report.seconds:.1f}s"
        + (f"; [yellow]{report.flagged} chunks flagged as instruction-like[/yellow]" if report.flagged else "")
    )


def _batch(store: Any, batch: Path, ws: str, k: int, filters: dict[str, Any] | None) -> None:
    from knowledge.search import search_knowledge

    try:
        lines = batch.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{batch}: {exc}")
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            query = item["query"]
            if not isinstance(query, str):
                raise TypeError("'query' must be a string")
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            _fail(f"{batch}:{number}: expected {{\"id\", \"query\", \"context\"?}}: {exc}")
            return
        hits = search_knowledge(store, query, ws, k=k, context=item.get("context"),
                                filters=item.get("filters") or filters)
        out = [{"id": h.id, "score": h.score, "kind": h.kind, "source": h.source} for h in hits]
        print(json.dumps({"id": item.get("id"), "hits": out}))


def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    context: Annotated[str | None, typer.Option(help="Thread context the query refers to (one turn per line).")] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=50)] = 5,
    workspace: WorkspaceOpt = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="Only these kinds.")] = None,
    platform: Annotated[str | None, typer.Option(help="Only chunks for this platform.")] = None,
    min_score: Annotated[float | None, typer.Option(help="Below this score: no confident answer.")] = None,
    batch: Annotated[Path | None, typer.Option(help="JSONL of {id, query, context?} lines.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the knowledge base (hybrid dense + BM25, thread-aware): ranked hits with ids and sources."""
    from knowledge.errors import KnowledgeError
    from knowledge.search import retrieve

    ws = workspace or get_settings().workspace
    filters: dict[str, Any] = {}
    if kind:
        filters["kind"] = kind
    if platform:
        filters["platform"] = platform
    store = _store()
    try:
        if batch is not None:
            _batch(store, batch, ws, k, filters or None)
            return
        if not query:
            _fail("give a QUERY or --batch FILE")
            return
        result = retrieve(store, query, ws, k=k, context=context, filters=filters or None, min_score=min_score)
    except KnowledgeError as exc:
        _fail(str(exc))
        return
    if as_json:
        # A list of hits (the stable shape); with --min-score an empty list means "no confident answer".
        print(json.dumps([h.model_dump(exclude={"attrs"}) for h in result.hits]))
        return
    if result.entities:
        console.print(f"about: {', '.join(result.entities)}")
    if not result.confident:
        console.print("[yellow]no confident answer[/yellow]")
    table = Table("score", "id", "kind", "source", "text")
    for h in result.hits:
        table.add_row(f"{h.score:.3f}", h.id, h.kind, h.source, h.text[:80].replace("\n", " "))
    console.print(table)


def reindex(
    workspace: WorkspaceOpt = None,
    all_workspaces: Annotated[bool, typer.Option("--all", help="Every workspace of this install.")] = False,
) -> None:
    """Re-embed a workspace with this install's embedding model (after a model change)."""
    from knowledge.errors import KnowledgeError
    from knowledge.maintenance import reindex as run_reindex

    store = _store()
    names = store.workspaces() if all_workspaces else [workspace or get_settings().workspace]
    try:
        for ws in names:
            with _progress(False) as progress:
                task = progress.add_task(f"re-embedding {ws}", total=None)

                def step(done: int, total: int, task: Any = task, progress: Progress = progress) -> None:
                    progress.update(task, completed=done, total=total)

                count = run_reindex(store, ws, step)
            console.print(f"[bold]{ws}[/bold]: {count} chunks re-embedded")
    except KnowledgeError as exc:
        _fail(str(exc))


def documents(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List a workspace's documents with their chunk counts."""
    from knowledge.errors import KnowledgeError

    ws = workspace or get_settings().workspace
    try:
        docs = _store().documents(ws)
    except KnowledgeError as exc:
        _fail(str(exc))
        return
    if as_json:
        print(json.dumps([d.model_dump() for d in docs]))
        return
    table = Table("id", "source", "kind", "chunks", "flagged", "ingested at")
    for d in docs:
        table.add_row(d.id, d.source, d.kind, str(d.chunks), str(d.flagged), d.ingested_at[:19])
    console.print(table)
