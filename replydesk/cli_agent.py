"""CLI for the agent: team intent taxonomies (``replydesk intents ...``) and batch triage (``replydesk triage``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ground.settings import get_settings

intents_app = typer.Typer(help="Team intent taxonomies: load labelled examples, inspect, evaluate.",
                          no_args_is_help=True)
console = Console()
err = Console(stderr=True)
WorkspaceOpt = Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace (default: settings).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DEFAULT_DATA = Path("../shared/data")


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


@intents_app.command("load")
def intents_load(
    path: Annotated[Path, typer.Argument(help="CSV (text,intent) or JSONL ({\"text\",\"intent\"}) of examples.")],
    workspace: WorkspaceOpt = None,
    threshold: Annotated[float | None, typer.Option(help="Fixed out-of-scope threshold (default: calibrated).")] = None,
    max_accuracy_loss: Annotated[float, typer.Option(
        help="With out-of-scope examples: in-scope accuracy the threshold may cost.")] = 0.04,
    as_json: JsonOpt = False,
) -> None:
    """Load a team's intent taxonomy (replaces the workspace's current one). Examples labelled oos/out_of_scope
    teach what is not yours."""
    from agent.errors import TaxonomyError
    from agent.taxonomy import TaxonomyStore
    from knowledge.errors import KnowledgeError

    ws = workspace or get_settings().workspace
    try:
        with err.status(f"embedding and fitting {path} …", spinner="dots") if not as_json else _nothing():
            report = TaxonomyStore(get_settings()).load_file(
                path, ws, threshold=threshold, max_accuracy_loss=max_accuracy_loss
            )
    except (TaxonomyError, KnowledgeError, ValueError) as exc:
        _fail(str(exc))
        return
    if as_json:
        print(json.dumps(report.__dict__))
        return
    cv = f", cross-validated accuracy {report.cv_accuracy:.3f}" if report.cv_accuracy is not None else ""
    recall = f", out-of-scope recall {report.cv_oos_recall:.3f}" if report.cv_oos_recall is not None else ""
    console.print(
        f"[bold]{ws}[/bold]: {report.examples} examples, {report.intents} intents, "
        f"{report.out_of_scope_examples} out-of-scope examples{cv}{recall}; "
        f"threshold {report.threshold} ({report.calibration}; {report.seconds}s)"
    )


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


@intents_app.command("show")
def intents_show(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Show the workspace's taxonomy (intents and out-of-scope calibration)."""
    from agent.errors import TaxonomyError
    from agent.taxonomy import COMMUNITY_LABELS, TaxonomyStore

    ws = workspace or get_settings().workspace
    try:
        info = TaxonomyStore(get_settings()).describe(ws)
    except TaxonomyError as exc:
        _fail(str(exc))
        return
    info = info or {"workspace": ws, "taxonomy": "community (built in)", "intents": list(COMMUNITY_LABELS)}
    if as_json:
        print(json.dumps(info))
        return
    for key, value in info.items():
        console.print(f"[bold]{key}[/bold]: {', '.join(value) if isinstance(value, list) else value}")


@intents_app.command("remove")
def intents_remove(workspace: WorkspaceOpt = None) -> None:
    """Remove the workspace's taxonomy (triage falls back to the built-in community taxonomy)."""
    from agent.taxonomy import TaxonomyStore

    ws = workspace or get_settings().workspace
    removed = TaxonomyStore(get_settings()).remove(ws)
    console.print(f"{ws}: taxonomy removed" if removed else f"{ws}: no taxonomy to remove")


@intents_app.command("migrate")
def intents_migrate(workspace: WorkspaceOpt = None) -> None:
    """Convert taxonomies stored by earlier versions (pickles, which can run code when read) to the data-only
    format, then delete the pickles. Run it only for files this installation wrote; all workspaces by default."""
    from agent.errors import TaxonomyError
    from agent.taxonomy import TaxonomyStore

    store = TaxonomyStore(get_settings())
    todo = [workspace] if workspace else store.legacy_workspaces()
    if not todo:
        console.print("no taxonomy in the old format")
        return
    for ws in todo:
        try:
            done = store.migrate_legacy(ws)
        except TaxonomyError as exc:
            _fail(str(exc))
            return
        console.print(f"{ws}: converted" if done else f"{ws}: no taxonomy in the old format")


@intents_app.command("eval")
def intents_eval(
    data: Annotated[Path, typer.Option(help="Folder holding banking77/ and clinc150/.")] = DEFAULT_DATA,
    only: Annotated[str | None, typer.Option(help="banking77 or clinc150")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the BANKING77 held-out split.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Intent accuracy (BANKING77, held-out 20% of train) and out-of-scope detection (CLINC150).
    Needs ../shared/data (or --data); skips cleanly without it."""
    from evals.intents import banking77, clinc150

    suites: dict[str, tuple[Callable[..., dict[str, Any]], Path]] = {
        "banking77": (banking77, data / "banking77" / "train.csv"),
        "clinc150": (clinc150, data / "clinc150" / "data_full.json"),
    }
    if only is not None and only not in suites:
        _fail(f"unknown suite {only!r}; expected banking77 or clinc150")
    results: dict[str, Any] = {}
    for name, (run, needed) in suites.items():
        if only not in (None, name):
            continue
        if not needed.exists():
            err.print(f"skipping {name}: needs {needed}")
            results[name] = {"skipped": f"needs {needed}"}
            continue
        options: dict[str, Any] = {"seed": seed} if name == "banking77" else {}
        results[name] = run(data, progress=(lambda m: None) if as_json else (lambda m: err.print(f"  {m}")),
                            **options)
    if as_json:
        print(json.dumps(results))
        return
    for name, result in results.items():
        table = Table("metric", "value", title=name)
        for key, value in result.items():
            table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
        console.print(table)


def _inbound(item: dict[str, Any], workspace: str, number: int, path: Path) -> Any:
    from pydantic import ValidationError

    from agent.state import Author, InboundMessage, ThreadTurn

    try:
        text = item["text"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError("'text' must be a non-empty string")
        context = item.get("context")
        return InboundMessage(
            id=0, workspace=workspace, platform=str(item.get("platform") or "other").lower(),
            external_id=str(item.get("id", number)),
            author=Author.model_validate(item.get("author") or {"id": "unknown", "handle": "unknown"}),
            text=text, thread=[ThreadTurn(author="thread", text=str(context))] if context else [],
            public=bool(item.get("public", True)),
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        _fail(f"{path}:{number}: expected {{\"id\", \"text\", \"context\"?}}: {exc}")


def triage(
    input: Annotated[Path, typer.Option("--input", "-i", help="JSONL of {id, text, context?} lines.")],
    workspace: WorkspaceOpt = None,
    llm: Annotated[
        bool | None, typer.Option("--llm/--no-llm", help="LLM sentiment (default: when configured).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Triage messages: intent, confidence, sentiment, urgency, language, risk flags and route."""
    from agent.errors import AgentError
    from agent.taxonomy import TaxonomyStore
    from agent.triage import Triager
    from knowledge.errors import KnowledgeError
    from knowledge.store import KnowledgeStore

    settings = get_settings()
    ws = workspace or settings.workspace
    try:
        lines = input.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{input}: {exc}")
        return
    items: list[tuple[dict[str, Any], Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            _fail(f"{input}:{number}: not valid JSON: {exc.msg}")
            return
        if not isinstance(item, dict):
            _fail(f"{input}:{number}: expected an object {{\"id\", \"text\", \"context\"?}}")
        items.append((item, _inbound(item, ws, number, input)))
    use_llm = settings.llm_enabled if llm is None else llm
    drafter = None
    if use_llm:
        from agent.llm import LLMDrafter
        from agent.memory import open_store
        from agent.resilience import LLMGuard

        drafter = LLMDrafter(settings, LLMGuard(settings, open_store(settings)[0]))
    try:
        guidelines = KnowledgeStore(settings).by_kind_records(ws, "guideline")
        triager = Triager(TaxonomyStore(settings), drafter)
        results = []
        for start in range(0, len(items), 256):
            batch = items[start : start + 256]
            results.extend(triager.triage_many(
                [m for _, m in batch], guidelines, contexts=[i.get("context") for i, _ in batch], use_llm=use_llm
            ))
    except (AgentError, KnowledgeError) as exc:
        _fail(str(exc))
        return
    if as_json:
        for (item, _), result in zip(items, results, strict=True):
            print(json.dumps({"id": item.get("id")} | result.model_dump()))
        return
    table = Table("id", "intent", "conf", "sentiment", "urgency", "lang", "route", "flags")
    for (item, _), r in zip(items, results, strict=True):
        table.add_row(str(item.get("id")), r.intent, f"{r.confidence:.2f}", r.sentiment, r.urgency, r.language,
                      r.route + (f" → {r.escalate_to}" if r.escalate_to else ""), ", ".join(r.risk_flags))
    console.print(table)
