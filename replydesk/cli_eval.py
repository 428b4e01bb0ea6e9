"""``replydesk eval ...``: quality measured on datasets (each command says which data it needs)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from replydesk.settings import get_settings

console = Console()
err = Console(stderr=True)
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def retrieval(
    dataset: Annotated[list[str] | None, typer.Option("--dataset", "-d", help="covid | dstc11 (default: both)")] = None,
    data: Annotated[Path, typer.Option(help="Folder holding covidqa_faq/ and dstc11_track5/.")] = DEFAULT_DATA,
    limit: Annotated[int | None, typer.Option(help="Score only the first N queries of each dataset.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Embed into a temporary store, not the eval cache.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Recall@1/5/10 and MRR of FAQ retrieval (COVID FAQ paraphrases; DSTC11 turns with dialogue context),
    beside last-turn dense and dense+BM25 baselines measured in the same run."""
    from evals.retrieval import NEEDS, evaluate, missing_files
    from knowledge.store import KnowledgeStore

    chosen = dataset or list(NEEDS)
    unknown = [d for d in chosen if d not in NEEDS]
    if unknown:
        err.print(f"[red]error:[/red] unknown dataset(s) {unknown}; choose from {list(NEEDS)}")
        raise typer.Exit(code=2)
    runnable = []
    for name in chosen:
        missing = missing_files(data, name)
        if missing:
            err.print(f"[yellow]skipping {name}[/yellow]: needs {', '.join(str(p) for p in missing)} "
                      "(point --data at the folder holding covidqa_faq/ and dstc11_track5/)")
        else:
            runnable.append(name)
    if not runnable:
        err.print("no dataset available; nothing to evaluate")
        raise typer.Exit(code=0)
    settings = get_settings()
    root = Path(tempfile.mkdtemp(prefix="replydesk-eval-")) if fresh else settings.data_dir / "eval-cache"
    store = KnowledgeStore(settings.model_copy(update={"chroma_path": root / "chroma", "chroma_url": None}))
    rows = []
    for name in runnable:
        for setting, score in evaluate(store, data, name, limit, on_step=lambda s: err.print(f"[dim]{s}[/dim]")):
            rows.append({"dataset": name, "setting": setting, **score.as_dict()})
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("dataset", "setting", "method", "n", "R@1", "R@5", "R@10", "MRR", "ms/query")
    for row in rows:
        figures = [f"{row[m]:.3f}" for m in ("recall@1", "recall@5", "recall@10", "mrr")]
        table.add_row(row["dataset"], row["setting"], row["method"], str(row["n"]), *figures,
                      f"{row['ms_per_query']:.0f}")
    console.print(table, width=max(console.width, 120))
