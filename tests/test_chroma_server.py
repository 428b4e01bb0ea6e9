"""Chroma server mode: REPLYDESK_CHROMA_URL switches to HttpClient; the retrieval tests run against a real
``chroma run`` on a loopback port, and a second process writing through it invalidates our BM25 cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from knowledge.search import retrieve
from knowledge.store import KnowledgeStore
from testkit.live import ROOT, free_port, make_settings, wait_for
from tests.test_knowledge_retrieval import isolation_checks, retrieval_checks, write_kb


def _chroma_binary() -> str | None:
    beside = Path(sys.executable).parent / "chroma"
    return str(beside) if beside.exists() else shutil.which("chroma")


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = _chroma_binary()
    if binary is None:
        pytest.skip("the `chroma` command is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    process = subprocess.Popen(
        [binary, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"chroma run exited with {process.returncode}")
        try:
            return httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=60, interval=0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _store(tmp_path: Path, url: str) -> KnowledgeStore:
    return KnowledgeStore(make_settings(tmp_path, chroma_url=url))


def test_retrieval_on_server(chroma_url: str, tmp_path: Path) -> None:
    retrieval_checks(_store(tmp_path, chroma_url), tmp_path)
    assert not (tmp_path / "data" / "chroma").exists()  # nothing written to an embedded store


def test_isolation_on_server(chroma_url: str, tmp_path: Path) -> None:
    isolation_checks(_store(tmp_path, chroma_url), tmp_path)


def test_another_process_writing_invalidates_the_lexical_cache(chroma_url: str, tmp_path: Path) -> None:
    store = _store(tmp_path, chroma_url)
    from knowledge.ingest import ingest_paths

    ingest_paths(store, write_kb(tmp_path / "kb"), "shared")
    assert retrieve(store, "warranty", "shared").hits  # builds and caches the BM25 index here
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"id": "saddle", "question": "Which saddle is fitted?", "answer": "Model qz93."}))
    env = {**os.environ, "REPLYDESK_CHROMA_URL": chroma_url, "REPLYDESK_DATA_DIR": str(tmp_path / "other")}
    done = subprocess.run(
        [sys.executable, "-c", "from replydesk.cli import app; app()", "ingest", str(extra), "-w", "shared", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 1
    top = retrieve(store, "qz93", "shared").hits[0]
    assert top.id == "saddle" and "bm25" in top.retrievers
