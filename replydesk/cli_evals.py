"""``replydesk eval …``: run suites, compare and gate runs, reports, promotion from the queue, calibration, and
retrieval quality measured on public datasets."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ground.settings import get_settings

eval_app = typer.Typer(
    help="Eval suites: run, compare, gate, report, promote, calibrate; retrieval on public datasets.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=code)


def _fmt(value: float | None, pct: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if pct else f"{value:.3f}"


def _print_summary(run_id: int, summary: dict[str, Any], notes: list[str]) -> None:
    table = Table("suite", "cases", "pass", "fail", "flaky", "error", "pass rate", "metrics",
                  title=f"eval run {run_id}")
    for name, row in summary["suites"].items():
        metrics = ", ".join(f"{k}={v:.3f}" for k, v in row["metrics"].items())
        table.add_row(name, str(row["cases"]), str(row["pass"]), str(row["fail"]), str(row["flaky"]),
                      str(row["error"]), _fmt(row["pass_rate"]), metrics)
    console.print(table)
    calls, tokens, cost = summary["calls"], summary["tokens"], summary["cost"]
    usd = f"${cost['usd']:.4f}" if cost["usd"] is not None else \
        "unknown (no price for " + ", ".join(cost["unknown_models"]) + ")"
    console.print(f"LLM calls: {calls['ok']} live ({calls['failed_attempts']} failed attempts), {calls['cache_hits']} "
                  f"from cache (hit rate {_fmt(calls['cache_hit_rate'])}); tokens {tokens['prompt']} in / "
                  f"{tokens['completion']} out; cost {usd}; {summary['duration_seconds']:.1f}s")
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")


@eval_app.command("run")
def run(
    suites: Annotated[list[str], typer.Argument(help="Built-in suite names or suite YAML files.")],
    repeats: Annotated[int, typer.Option(min=1, max=50, help="Samples per case (flakiness).")] = 1,
    concurrency: Annotated[int | None, typer.Option(min=1, max=256, help="LLM calls in flight.")] = None,
    rate_limit: Annotated[float | None, typer.Option(help="LLM requests per second.")] = None,
    prompt: Annotated[Path | None, typer.Option(help="Drafting prompt override (YAML: system, user).")] = None,
    judge: Annotated[bool, typer.Option(help="Use the LLM judge when an endpoint is configured.")] = True,
    cache: Annotated[bool, typer.Option(help="Serve repeated calls from the response cache.")] = True,
    limit: Annotated[int | None, typer.Option(min=1, help="First N cases of each suite.")] = None,
    label: Annotated[str, typer.Option(help="A name for this run.")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Estimate calls, tokens and cost; run nothing.")] = False,
    baseline: Annotated[str | None, typer.Option(help="Run id (or 'latest') to compare against.")] = None,
    fail_on_regression: Annotated[
        bool, typer.Option("--fail-on-regression", help="Exit 1 on a significant drop.")] = False,
    alpha: Annotated[float, typer.Option(help="Significance level of the paired test.")] = 0.05,
    max_drop: Annotated[float | None, typer.Option(help="Also fail when the pass rate drops more than this.")] = None,
    max_errors: Annotated[int, typer.Option(min=0, help="With --fail-on-regression: errored cases tolerated.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Run eval suites against the real agent graph; store the run; optionally gate on a baseline."""
    from evals.compare import compare_runs
    from evals.dryrun import estimate
    from evals.errors import EvalError
    from evals.runner import EvalRunner, RunOptions
    from evals.store import open_engine
    from knowledge.errors import KnowledgeError

    settings = get_settings()
    options = RunOptions(suites=suites, repeats=repeats, concurrency=concurrency, rate_limit=rate_limit,
                         prompt_file=prompt, judge=judge, cache=cache, label=label, limit=limit)
    if fail_on_regression and baseline is None and not dry_run:
        _fail("--fail-on-regression needs --baseline RUN")
    try:
        if dry_run:
            plan = estimate(settings, options)
            if as_json:
                print(json.dumps(plan))
            else:
                console.print_json(json.dumps(plan))
            return
        baseline_id: int | None = None
        if baseline is not None:
            from evals.store import get_run

            # Resolved now: fails before spending anything, and 'latest' must not become this very run.
            baseline_id = get_run(open_engine(settings), baseline).id
        with Progress(console=err, transient=True, disable=as_json) as progress:
            task = progress.add_task("running cases", total=None)
            result = EvalRunner(settings, options, lambda done, total: progress.update(task, completed=done,
                                                                                    total=total)).execute()
        gate: dict[str, Any] | None = None
        if baseline_id is not None:
            comparison = compare_runs(open_engine(settings), baseline_id, result.run_id, alpha=alpha,
                                      max_drop=max_drop)
            gate = {"baseline": comparison.run_a, "regression": comparison.regression, "reason": comparison.reason,
                    "pass_to_fail": comparison.pass_to_fail, "fail_to_pass": comparison.fail_to_pass,
                    "p_value": comparison.p_value, "flips": [f"{d.suite}/{d.case_id}: {d.flip}"
                                                           for d in comparison.flips()]}
    except (EvalError, KnowledgeError) as exc:
        _fail(str(exc))
        return
    errors = result.summary["totals"]["error"]
    if as_json:
        print(json.dumps({"run_id": result.run_id, "summary": result.summary, "notes": result.notes, "gate": gate}))
    else:
        _print_summary(result.run_id, result.summary, result.notes)
        if gate:
            style = "red" if gate["regression"] else "green"
            console.print(f"[{style}]vs run {gate['baseline']}: {gate['reason']}[/{style}]")
    if fail_on_regression and gate is not None:
        if gate["regression"]:
            _fail(f"regression against run {gate['baseline']}: {gate['reason']}")
        elif errors > max_errors:
            _fail(f"{errors} cases errored (tolerated: {max_errors}); the gate cannot vouch for this run")


@eval_app.command("list")
def list_runs(limit: Annotated[int, typer.Option(min=1, max=500)] = 20, as_json: JsonOpt = False) -> None:
    """Recent finished runs."""
    from evals.store import open_engine, recent_runs

    runs = recent_runs(open_engine(get_settings()), limit)
    if as_json:
        print(json.dumps([{"id": r.id, "label": r.label, "suites": r.suites, "created_at": r.created_at.isoformat(),
                           "totals": r.summary.get("totals"), "git_commit": r.git_commit} for r in runs]))
        return
    table = Table("id", "when", "label", "suites", "cases", "pass rate", "errors", "commit")
    for r in runs:
        totals = r.summary.get("totals", {})
        table.add_row(str(r.id), r.created_at.strftime("%Y-%m-%d %H:%M"), r.label, ",".join(r.suites),
                      str(totals.get("cases")), _fmt(totals.get("pass_rate")), str(totals.get("error")),
                      (r.git_commit or "-")[:10] + ("+dirty" if r.git_dirty else ""))
    console.print(table)


@eval_app.command("compare")
def compare(
    run_a: Annotated[str, typer.Argument(help="Baseline run id (or 'latest').")],
    run_b: Annotated[str, typer.Argument(help="Candidate run id (or 'latest').")],
    alpha: Annotated[float, typer.Option()] = 0.05,
    as_json: JsonOpt = False,
) -> None:
    """Per-case deltas, flips, and an exact McNemar test on pass/fail between two runs."""
    from evals.compare import compare_runs
    from evals.errors import EvalError
    from evals.store import open_engine

    try:
        result = compare_runs(open_engine(get_settings()), run_a, run_b, alpha=alpha)
    except EvalError as exc:
        _fail(str(exc))
        return
    if as_json:
        print(json.dumps(result.as_dict()))
        return
    console.print(f"run {result.run_a} → run {result.run_b}: pass rate {_fmt(result.pass_rate_a)} → "
                  f"{_fmt(result.pass_rate_b)} over {result.paired} paired cases; "
                  f"{result.pass_to_fail} pass→fail, {result.fail_to_pass} fail→pass, exact McNemar "
                  f"p={result.p_value:.4g}; errors {result.errors_a} → {result.errors_b}")
    table = Table("suite", "case", "before", "after", "score Δ")
    for delta in sorted(result.deltas, key=lambda d: (d.flip is None, d.delta or 0.0)):
        if delta.flip or (delta.delta or 0.0) != 0.0:
            table.add_row(delta.suite, delta.case_id, delta.before, delta.after,
                          "n/a" if delta.delta is None else f"{delta.delta:+.3f}")
    console.print(table)
    console.print(("[red]" if result.regression else "[green]") + result.reason)


@eval_app.command("report")
def report(
    run_ref: Annotated[str, typer.Argument(help="Run id (or 'latest').")],
    out: Annotated[Path, typer.Option(help="Directory for report.html, report.md and report.json.")] = Path("."),
) -> None:
    """Write a self-contained HTML report with charts, plus Markdown and JSON."""
    from evals.errors import EvalError
    from evals.report import write_reports
    from evals.store import open_engine

    try:
        paths = write_reports(open_engine(get_settings()), run_ref, out)
    except (EvalError, OSError) as exc:
        _fail(str(exc))
        return
    for path in paths:
        console.print(str(path))


@eval_app.command("promote")
def promote(
    out: Annotated[Path | None, typer.Option(help="Review file to write (default evals/review/…).")] = None,
    accept: Annotated[Path | None, typer.Option(help="A reviewed file: append its accepted cases to --suite.")] = None,
    suite: Annotated[Path | None, typer.Option(help="Suite YAML that accepted cases join.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 200,
) -> None:
    """Approved (and CM-edited) drafts → candidate regression cases, reviewed before they join a suite."""
    from evals.errors import EvalError
    from evals.promote import accept_reviewed, write_review_file

    settings = get_settings()
    try:
        if accept is not None:
            if suite is None:
                _fail("--accept needs --suite FILE (the suite the accepted cases join)")
                return
            added, left = accept_reviewed(accept, suite)
            console.print(f"{added} accepted cases added to {suite}; {left} not accepted were left out")
            return
        path, count = write_review_file(settings, out, limit)
    except EvalError as exc:
        _fail(str(exc))
        return
    console.print(f"{count} candidate cases written to {path}. Review them (set review: accepted), then run "
                  f"`replydesk eval promote --accept {path} --suite SUITE.yaml`.")


@eval_app.command("calibrate")
def calibrate(
    ratings: Annotated[Path | None, typer.Option(help="JSONL of human-rated replies.")] = None,
    dstc: Annotated[Path | None, typer.Option(help="A DSTC11 track 5 entry: *.json beside *.human_eval.json.")] = None,
    dstc_logs: Annotated[Path | None, typer.Option(help="The DSTC logs.json matching that entry.")] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Use CM decisions in the approval queue.")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Score the judge against human ratings: Spearman rho and Cohen's kappa."""
    from evals.calibrate import calibrate_judge, load_dstc, load_queue, load_ratings
    from evals.errors import EvalError

    settings = get_settings()
    try:
        if sum((ratings is not None, dstc is not None, queue)) != 1:
            _fail("give exactly one of --ratings FILE, --dstc ENTRY.json --dstc-logs logs.json, or --queue")
        if ratings is not None:
            items = load_ratings(ratings)
        elif dstc is not None:
            if dstc_logs is None:
                _fail("--dstc needs --dstc-logs (the logs.json of the same split)")
                return
            items = load_dstc(dstc, dstc_logs)
        else:
            items = load_queue(settings)
        result = calibrate_judge(settings, items[:limit])
    except EvalError as exc:
        _fail(str(exc))
        return
    if as_json:
        print(json.dumps(result))
        return
    console.print_json(json.dumps(result))


@eval_app.command("suites")
def list_suites() -> None:
    """Built-in suites, and whether the data they need is here."""
    from evals.errors import EvalError, SuiteUnavailable
    from evals.suites import builtin_names, load_suite

    table = Table("suite", "cases", "status")
    for name in builtin_names():
        try:
            suite = load_suite(name, get_settings().eval_shared_data)
            table.add_row(name, str(len(suite.cases)), "ready")
        except SuiteUnavailable as exc:
            table.add_row(name, "-", str(exc))
        except EvalError as exc:
            table.add_row(name, "-", f"[red]{exc}[/red]")
    console.print(table)


@eval_app.command("retrieval")
def retrieval(
    dataset: Annotated[list[str] | None, typer.Option("--dataset", "-d", help="covid | dstc11 (default: both)")] = None,
    data: Annotated[Path, typer.Option(help="Folder holding covidqa_faq/ and dstc11_track5/.")] = DEFAULT_DATA,
    limit: Annotated[int | None, typer.Option(help="Score only the first N queries of each dataset.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Embed into a temporary store, not the eval cache.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    noise_seed: Annotated[int, typer.Option(help="Seed of the ASR-like noise of the noisy DSTC11 set.")] = 0,
) -> None:
    """Recall@1/5/10 and MRR of FAQ retrieval (COVID FAQ paraphrases; DSTC11 turns with dialogue context),
    beside last-turn dense and dense+BM25 baselines measured in the same run. DSTC11 is scored as written
    and with speech-recognition-like noise (lower case, fillers, homophones, split/merged words), side by side."""
    from evals.retrieval import NEEDS, NOISY, evaluate, missing_files
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
        for setting, score in evaluate(store, data, name, limit, on_step=lambda s: err.print(f"[dim]{s}[/dim]"),
                                       noise_seed=noise_seed):
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
    side = {r["setting"]: r for r in rows if r["dataset"] == "dstc11" and r["method"] == "hybrid+context"}
    if "faqs only" in side and NOISY in side:
        clean, noisy = side["faqs only"], side[NOISY]
        console.print(f"DSTC11 hybrid+context, clean | noisy: R@1 {clean['recall@1']:.3f} | {noisy['recall@1']:.3f}, "
                      f"R@5 {clean['recall@5']:.3f} | {noisy['recall@5']:.3f}")
