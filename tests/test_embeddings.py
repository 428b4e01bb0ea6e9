"""The embedding coalescer: concurrent callers' texts are encoded together, each caller gets its own rows."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from knowledge.embeddings import _Coalescer, embed_texts


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
