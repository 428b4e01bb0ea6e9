"""Retrieval eval: recall@1/5/10 and MRR on public FAQ data, with baselines measured in the same run.

Datasets (read from the shared data folder, never copied into the repository):
  * ``covidqa_faq`` — the 213-question FAQ bank (``faq_covidbert.csv``) ingested as a CSV FAQ; queries
    are the volunteer paraphrases of ``eval_question_similarity_en.csv`` (pairs marked similar).
  * ``dstc11_track5`` — ``knowledge.json`` (hotel/restaurant FAQs and reviews) ingested with the generic
    JSON export loader; queries are the FAQ-citing knowledge-seeking turns of ``val/`` with every
    earlier turn of the dialogue as context. Gold: the labelled FAQ items. Scored twice over the FAQs:
    as written, and as a speech transcript would give it (every turn through :func:`evals.noise.garble`,
    seeded, so a run is reproducible) — spoken dialogues are what real threads look like.

Methods: ``hybrid+context`` (the product path: :func:`knowledge.search.retrieve`), ``dense`` (the last
turn only), ``dense+bm25`` (last turn, RRF), ``dense+bm25 last5`` (the last five turns concatenated, RRF
k=60 — the reference baseline quoted with the data). Recall@k is the share of a turn's gold items in the
top k, averaged over turns; MRR uses the first gold item in the top 10.
"""

from __future__ import annotations

import csv
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.noise import garble
from knowledge.embeddings import embed_texts
from knowledge.ingest import ingest_paths
from knowledge.lexical import workspace_index
from knowledge.search import normalise_filters, retrieve, where_clause
from knowledge.store import KnowledgeStore

KS = (1, 5, 10)
NEEDS = {
    "covid": ["covidqa_faq/faq_covidbert.csv", "covidqa_faq/eval_question_similarity_en.csv"],
    "dstc11": ["dstc11_track5/knowledge.json", "dstc11_track5/val/logs.json", "dstc11_track5/val/labels.json"],
}


@dataclass
class Case:
    query: str
    context: list[str]
    gold: set[str]  # chunk ids, or "id-prefix*" for an item split into parts


@dataclass
class Score:
    method: str
    n: int = 0
    recall: dict[int, float] = field(default_factory=lambda: dict.fromkeys(KS, 0.0))
    mrr: float = 0.0
    ms_per_query: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        recall = {f"recall@{k}": round(v, 4) for k, v in self.recall.items()}
        return {"method": self.method, "n": self.n, **recall, "mrr": round(self.mrr, 4),
                "ms_per_query": round(self.ms_per_query, 1)}


def missing_files(data_dir: Path, dataset: str) -> list[Path]:
    return [data_dir / rel for rel in NEEDS[dataset] if not (data_dir / rel).exists()]


def _matches(hit_id: str, gold: str) -> bool:
    return hit_id == gold or hit_id.startswith(gold + "#part-")


def covid_cases(data_dir: Path, source: str) -> list[Case]:
    folder = data_dir / "covidqa_faq"
    with (folder / "faq_covidbert.csv").open(encoding="utf-8", newline="") as fh:
        bank = {row["question"].strip() for row in csv.DictReader(fh)}
    from knowledge.loaders import short_hash

    cases = []
    with (folder / "eval_question_similarity_en.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            target = row["question_1"].strip()
            if row["similar"].strip() == "1" and target in bank:
                cases.append(Case(row["question_2"].strip(), [], {f"{source}#q-{short_hash(target)}"}))
    return cases


def noisy_cases(cases: list[Case], seed: int) -> list[Case]:
    """The same cases as a speech recogniser might have transcribed them (each turn garbled, seeded)."""
    return [Case(garble(c.query, seed), [garble(t, seed) for t in c.context], c.gold) for c in cases]


def dstc_cases(data_dir: Path, source: str) -> list[Case]:
    folder = data_dir / "dstc11_track5"
    logs = json.loads((folder / "val" / "logs.json").read_text(encoding="utf-8"))
    labels = json.loads((folder / "val" / "labels.json").read_text(encoding="utf-8"))
    cases = []
    for log, label in zip(logs, labels, strict=True):
        faqs = [k for k in label.get("knowledge") or [] if k.get("doc_type") == "faq"] if label.get("target") else []
        if faqs:
            gold = {f"{source}#{k['domain']}/{k['entity_id']}/faqs/{k['doc_id']}" for k in faqs}
            turns = [t["text"] for t in log]
            cases.append(Case(turns[-1], turns[:-1], gold))
    return cases


def _rrf(rankings: list[list[str]], k: int = 60) -> list[str]:
    fused: dict[str, float] = defaultdict(float)
    for ids in rankings:
        for rank, cid in enumerate(ids):
            fused[cid] += 1 / (k + rank + 1)
    return sorted(fused, key=lambda c: -fused[c])


Method = Callable[[Case], list[str]]


def methods(store: KnowledgeStore, workspace: str, filters: dict[str, Any] | None) -> dict[str, Method]:
    flt = normalise_filters(filters)
    where = where_clause(flt)
    cols = store.open(workspace)
    index = workspace_index(store, workspace)
    if cols is None or index is None:
        raise RuntimeError(f"workspace {workspace} is empty after ingestion")
    mask = index.mask(flt)

    def dense(text: str) -> list[str]:
        return [cid for cid, _s in store.nearest(cols, embed_texts([text])[0], 10, where)]

    def bm25(text: str) -> list[str]:
        return [cid for cid, _s in index.search(text, 50, mask)]

    def last5(case: Case) -> list[str]:
        text = "\n".join([*case.context[-4:], case.query])
        return _rrf([dense(text), bm25(text)])

    return {
        "hybrid+context": lambda c: [h.id for h in retrieve(store, c.query, workspace, 10, c.context, filters).hits],
        "dense (last turn)": lambda c: dense(c.query),
        "dense+bm25 (last turn)": lambda c: _rrf([dense(c.query), bm25(c.query)]),
        "dense+bm25 (last 5 turns)": last5,
    }


def score(method: str, run: Callable[[Case], list[str]], cases: list[Case]) -> Score:
    result = Score(method, n=len(cases))
    started = time.perf_counter()
    for case in cases:
        ranked = run(case)[:10]
        for k in KS:
            found = sum(1 for g in case.gold if any(_matches(h, g) for h in ranked[:k]))
            result.recall[k] += found / len(case.gold) / len(cases)
        first = next((r for r, h in enumerate(ranked) if any(_matches(h, g) for g in case.gold)), None)
        result.mrr += (0.0 if first is None else 1 / (first + 1)) / len(cases)
    result.ms_per_query = (time.perf_counter() - started) * 1000 / max(len(cases), 1)
    return result


NOISY = "faqs only, noisy"
NOISY_METHODS = ("hybrid+context", "dense (last turn)", "dense+bm25 (last 5 turns)")


def evaluate(
    store: KnowledgeStore, data_dir: Path, dataset: str, limit: int | None = None,
    on_step: Callable[[str], None] | None = None, noise_seed: int = 0,
) -> Iterator[tuple[str, Score]]:
    """Ingest the dataset's knowledge (idempotent: unchanged chunks are skipped) and score every method.
    Yields (setting, score) pairs; DSTC11 is scored over FAQs only (clean, then noisy) and over FAQs +
    reviews."""
    if dataset == "covid":
        path = data_dir / "covidqa_faq" / "faq_covidbert.csv"
        workspace = "eval-covid"
        settings: list[tuple[str, dict[str, Any] | None]] = [("faq bank", None)]
    else:
        path = data_dir / "dstc11_track5" / "knowledge.json"
        workspace = "eval-dstc11"
        settings = [("faqs only", {"kind": "faq"}), (NOISY, {"kind": "faq"}),
                    ("faqs + reviews", {"kind": ["faq", "review"]})]
    if on_step:
        on_step(f"ingesting {path.name} into workspace {workspace}")
    ingest_paths(store, [path], workspace, kind="auto")
    source = store.documents(workspace)[0].source
    cases = covid_cases(data_dir, source) if dataset == "covid" else dstc_cases(data_dir, source)
    cases = cases[:limit] if limit else cases
    for setting, filters in settings:
        scored = noisy_cases(cases, noise_seed) if setting == NOISY else cases
        for method, run in methods(store, workspace, filters).items():
            if dataset == "covid" and "5 turns" in method:
                continue  # single-turn queries: the same as the last turn
            if setting == NOISY and method not in NOISY_METHODS:
                continue
            if on_step:
                on_step(f"{dataset} / {setting}: {method} ({len(scored)} queries)")
            yield setting, score(method, run, scored)
