"""The embedding model: its cached int8 word-table rewrite, and the coalescer of concurrent callers."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings import PINNED_SHA256, MiniLMEncoder, _Coalescer, _model_files, embed_texts
from knowledge.model_graph import derived_model


def test_concurrent_callers_each_get_their_own_vectors() -> None:
    coalescer = _Coalescer(runners=2)
    asks = [[f"question {i} about the kickstand", f"the rear rack of bike {i}"] for i in range(24)]
    asks[5] = asks[3]  # the same texts asked twice at once: encoded once, handed to both
    asks[7] = []
    with ThreadPoolExecutor(max_workers=12) as pool:
        got = list(pool.map(coalescer.encode, asks))
    for texts, vectors in zip(asks, got, strict=True):
        assert vectors.shape == (len(texts), 384)
        if texts:
            assert np.allclose(vectors, embed_texts(texts), atol=1e-4)
    assert coalescer._running == 0 and not coalescer._queue


def test_the_cached_rewrite_of_the_model_gives_the_same_vectors(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLYDESK_MODEL_CACHE", str(tmp_path / "models"))
    pinned, _tokenizer = _model_files()
    built = derived_model(pinned, PINNED_SHA256["model.onnx"])
    assert built.parent == tmp_path / "models" and built != pinned
    texts = ["my bike chain keeps slipping", "how long is the warranty on the battery?", "x " * 400, "Ünïcödé 😀", ""]
    assert np.array_equal(MiniLMEncoder(graph=built).encode(texts), MiniLMEncoder(graph=pinned).encode(texts))
    built.write_bytes(built.read_bytes()[:-10] + b"0123456789")  # damaged on disk: rebuilt, not run
    assert derived_model(pinned, PINNED_SHA256["model.onnx"]) == built
    assert hashlib.sha256(built.read_bytes()).hexdigest() == built.with_suffix(".sha256").read_text().strip()


def test_the_pinned_model_runs_when_its_rewrite_cannot_be_cached(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("REPLYDESK_MODEL_CACHE", str(blocker / "models"))
    pinned, _tokenizer = _model_files()
    assert derived_model(pinned, PINNED_SHA256["model.onnx"]) == pinned
