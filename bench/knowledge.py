"""Knowledge benchmarks: ingestion vs raw embedding, unchanged re-ingest, hybrid search latency, RSS.

1. Ingestion throughput vs the raw embedding throughput of the same model on the same texts (the chunk
   texts plus the FAQ questions ingestion embeds), measured in the same run; ratio reported.
2. Re-ingesting the unchanged corpus, as a share of the first ingest's time.
3. Search latency (p50/p99) of the full hybrid path — query embedding, dense (both views), BM25, entity
   resolution and entity-scoped rankings, RRF, fetching the hits — at ~12k and ~100k chunks. Growth is
   synthetic: stored vectors are copied with small perturbations under new ids and varied texts
   (embedding 100k chunks would take ~7 minutes on these machines). Half the queries carry a thread
   context naming an entity.
4. Peak RSS of the process.

Sizes: BENCH_KB_CHUNKS (embedded corpus, default 3000), BENCH_KB_SIZES (default "12000,100000"),
BENCH_KB_QUERIES (per size, default 300).
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embeddings import embed_texts, get_encoder
from knowledge.ingest import ingest_paths
from knowledge.lexical import workspace_index
from knowledge.search import retrieve
from knowledge.store import KnowledgeStore
from testkit.live import make_settings

N_CHUNKS = int(os.environ.get("BENCH_KB_CHUNKS", "3000"))
SIZES = [int(s) for s in os.environ.get("BENCH_KB_SIZES", "12000,100000").split(",") if s.strip()]
N_QUERIES = int(os.environ.get("BENCH_KB_QUERIES", "300"))
TOPICS = [
    ("parking", "Is there parking at {e}?", "{e} has {n} parking spaces; parking costs {p} euros a day."),
    ("wifi", "Does {e} have free wifi?", "Wifi at {e} is free in all {n} rooms, with speeds around {p} Mbps."),
    ("pets", "Can I bring my dog to {e}?", "Dogs are welcome at {e} for {p} euros a night, up to {n} kg."),
    ("breakfast", "Is breakfast included at {e}?", "Breakfast at {e} is served from {n}:00 and costs {p} euros."),
    ("checkin", "What time is check-in at {e}?", "Check-in at {e} starts at {n}:00; late arrivals call ahead."),
    ("returns", "What is the return policy of {e}?", "{e} accepts returns within {n} days; refunds take {p} days."),
    ("warranty", "How long is the warranty on {e}?", "{e} carries a {n}-year warranty on parts and labour."),
    ("delivery", "How long does delivery of {e} take?", "{e} ships within {n} days; express costs {p} euros."),
    ("accessible", "Is {e} wheelchair accessible?", "{e} has step-free access and {n} accessible rooms."),
    ("payment", "Which payment methods does {e} take?", "{e} takes cards, PayPal and bank transfer; fee {p}%."),
]
SYLLABLES = ["ka", "lo", "mer", "vin", "dal", "ros", "te", "bri", "quo", "zan", "pel", "orn", "sty", "wex"]
QUERIES = ["is there parking there?", "do they allow dogs", "what time can we check in?", "is the wifi free?",
           "how long is the warranty", "can I pay with paypal", "is breakfast included", "step free access?"]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _name(rng: random.Random) -> str:
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).title()
                    for _ in range(rng.randint(1, 2))) + rng.choice(["", " House", " Hotel", " Bikes", " Store"])


def _corpus(folder: Path, n_chunks: int, rng: random.Random) -> list[str]:
    """An FAQ export: entities with one FAQ per topic, answers padded with realistic detail."""
    records: list[str] = []
    names: list[str] = []
    filler = ("Staff are happy to help with anything else you need during your visit. Opening hours may change on "
              "public holidays, so check the calendar before you travel. ")
    while len(records) < n_chunks:
        entity = _name(rng)
        names.append(entity)
        for _key, question, answer in TOPICS:
            text = answer.format(e=entity, n=rng.randint(2, 60), p=rng.randint(3, 90))
            text += " " + filler[: rng.randint(40, len(filler))]
            records.append(json.dumps({"id": f"{entity}-{_key}", "question": question.format(e=entity),
                                       "answer": text, "entity": entity}))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "faq.jsonl").write_text("\n".join(records[:n_chunks]) + "\n")
    return names


def _ingest_vs_raw(store: KnowledgeStore, folder: Path) -> None:
    from knowledge.loaders import load_file

    chunks = load_file(folder / "faq.jsonl")
    texts = [c.text for c in chunks] + [str(c.question) for c in chunks if c.question]
    get_encoder()  # load the model outside both timings
    started = time.perf_counter()
    embed_texts(texts)
    raw = time.perf_counter() - started
    report = ingest_paths(store, [folder], "bench")
    again = ingest_paths(store, [folder], "bench")
    print(f"corpus: {len(chunks)} chunks, {len(texts)} texts embedded (chunk texts + FAQ questions)")
    print(f"raw embedding: {raw:.1f} s = {len(texts) / raw:.0f} texts/s")
    print(f"first ingest: {report.seconds:.1f} s = {len(texts) / report.seconds:.0f} texts/s "
          f"(embedding {report.embed_seconds:.1f} s); ingestion/raw throughput ratio {raw / report.seconds:.2f}")
    print(f"unchanged re-ingest: {again.seconds:.2f} s = {100 * again.seconds / report.seconds:.1f}% of the first "
          f"ingest ({again.unchanged} unchanged, {again.embedded} embedded)")
    print(f"peak RSS after ingestion: {_rss_mb():.0f} MB")


def _base(store: KnowledgeStore) -> dict[str, list[Any]]:
    """The embedded corpus (ids, texts, metadata, vectors, question vectors) that growth copies."""
    cols = store.open("bench")
    assert cols is not None
    base: dict[str, list[Any]] = {"ids": [], "documents": [], "metadatas": [], "embeddings": []}
    for offset in range(0, cols.main.count(), 5000):
        got = cols.main.get(include=["documents", "metadatas", "embeddings"], limit=5000, offset=offset)
        for key in base:
            base[key].extend(got[key])
    questions = cols.questions.get(ids=base["ids"], include=["embeddings"])
    qvec = dict(zip(questions["ids"], questions["embeddings"], strict=True))
    base["questions"] = [qvec.get(cid) for cid in base["ids"]]
    return base


def _grow(store: KnowledgeStore, base: dict[str, list[Any]], target: int, rng: np.random.Generator) -> None:
    """Copy the base chunks under new ids, with perturbed vectors and varied text, up to ``target``."""
    cols = store.open("bench")
    assert cols is not None
    have = cols.main.count()
    started = time.perf_counter()
    while have < target:
        copy = have // len(base["ids"])  # 1, 2, ...: the base itself is copy 0
        count = min(len(base["ids"]), target - have)
        ids = [f"{cid}~{copy}" for cid in base["ids"][:count]]
        for start in range(0, count, 1000):
            part = slice(start, min(start + 1000, count))
            n = part.stop - part.start
            vectors = np.asarray(base["embeddings"][part], dtype=np.float32)
            vectors += rng.normal(0, 0.02, size=vectors.shape).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            docs = [f"{doc} Ref {copy}-{i} {SYLLABLES[i % 14]}{copy}." for i, doc in
                    enumerate(base["documents"][part], start=part.start)]
            metas = [{**meta, "entity": f"{meta.get('entity', '')} {copy}", "source": f"synthetic/{copy}",
                      "content_hash": f"synthetic-{copy}-{i}"}
                     for i, meta in enumerate(base["metadatas"][part], start=part.start)]
            cols.main.upsert(ids=ids[part], documents=docs, embeddings=list(vectors), metadatas=metas)
            with_q = [j for j in range(n) if base["questions"][part.start + j] is not None]
            if with_q:
                qv = np.asarray([base["questions"][part.start + j] for j in with_q], dtype=np.float32)
                qv += rng.normal(0, 0.02, size=qv.shape).astype(np.float32)
                qv /= np.linalg.norm(qv, axis=1, keepdims=True)
                cols.questions.upsert(ids=[ids[part.start + j] for j in with_q], embeddings=list(qv),
                                      metadatas=[metas[j] for j in with_q])
        have += count
    store._touch(cols.main)
    print(f"  grew to {cols.main.count()} chunks in {time.perf_counter() - started:.0f} s (synthetic copies)")


def _latency(store: KnowledgeStore, names: list[str], size: int, rnd: random.Random) -> None:
    started = time.perf_counter()
    index = workspace_index(store, "bench")
    assert index is not None
    print(f"  lexical index (BM25 + entity lexicon) built in {time.perf_counter() - started:.1f} s "
          f"for {len(index)} chunks")
    retrieve(store, "warm up", "bench")
    times: list[float] = []
    resolved = 0
    for i in range(N_QUERIES):
        query = rnd.choice(QUERIES)
        context = [f"I'm looking at {rnd.choice(names)}", "Sure, what would you like to know?"] if i % 2 else None
        t0 = time.perf_counter()
        result = retrieve(store, query, "bench", k=5, context=context)
        times.append(time.perf_counter() - t0)
        resolved += bool(result.entities)
    times.sort()
    p50 = statistics.median(times) * 1000
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))] * 1000
    print(f"  search at {len(index)} chunks: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {N_QUERIES} hybrid queries "
          f"({resolved} with an entity resolved from context); peak RSS {_rss_mb():.0f} MB")


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="replydesk-bench-kb-"))
    try:
        store = KnowledgeStore(make_settings(workdir))
        names = _corpus(workdir / "kb", N_CHUNKS, random.Random(7))
        _ingest_vs_raw(store, workdir / "kb")
        rng, rnd = np.random.default_rng(11), random.Random(13)
        base = _base(store)
        for size in SIZES:
            _grow(store, base, size, rng)
            _latency(store, names, size, rnd)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
