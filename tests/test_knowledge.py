"""Ingestion and search against real embedded Chroma in a temp dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ground.settings import Settings
from knowledge.errors import IngestError, KnowledgeError
from knowledge.ingest import ingest_paths
from knowledge.lexical import workspace_index
from knowledge.search import search_knowledge
from knowledge.store import KnowledgeStore
from testkit.live import process_env

FAQ_JSONL = (
    '{"id": "faq-ship", "question": "How long does shipping take?", "answer": "Orders ship in 2 days."}\n'
    '{"id": "faq-pay", "question": "Which payment methods do you take?", "answer": "Cards and PayPal.",'
    ' "metadata": {"tags": ["billing"]}}\n'
)
FAQ_CSV = 'question,answer\n"Do you ship to Canada?","Yes, in 5 to 7 days."\n"Is there a warranty?","Two years."\n'
GUIDE = """---
kind: guideline
guideline: platform_tone
platform: x
max_chars: 280
greeting: "Hi {name}!"
---
# Replying on X

- Keep it short.
"""
DOC = "# Care\n\n## Charging\nCharge fully before the first ride.\n\n## Storage\nStore indoors in winter.\n"


@pytest.fixture
def store(settings: Settings) -> KnowledgeStore:
    return KnowledgeStore(settings)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "kb" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_ingest_formats_and_search(tmp_path: Path, store: KnowledgeStore) -> None:
    paths = [_write(tmp_path, "faq.jsonl", FAQ_JSONL), _write(tmp_path, "more.csv", FAQ_CSV),
             _write(tmp_path, "x.md", GUIDE), _write(tmp_path, "care.md", DOC)]
    report = ingest_paths(store, paths, "acme")
    assert (report.added, report.unchanged, report.files) == (7, 0, 4)
    hits = search_knowledge(store, "when will my parcel arrive", "acme", k=3)
    assert hits[0].id == "faq-ship"
    assert hits[0].source == "faq.jsonl"  # a file given alone is named by its file name, never a machine path
    assert hits[0].score > hits[-1].score
    care = search_knowledge(store, "where do I keep the bike in winter", "acme", k=1)
    assert care[0].title == "Care > Storage"
    guideline = store.by_kind("acme", "guideline")
    assert len(guideline) == 1
    assert guideline[0].platform == "x"
    assert guideline[0].attrs["max_chars"] == 280


def test_reingest_is_idempotent_and_prune_removes(tmp_path: Path, store: KnowledgeStore) -> None:
    faq = _write(tmp_path, "faq.jsonl", FAQ_JSONL)
    doc = _write(tmp_path, "care.md", DOC)
    ingest_paths(store, [tmp_path / "kb"], "acme")
    again = ingest_paths(store, [tmp_path / "kb"], "acme")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    faq.write_text(FAQ_JSONL.replace("2 days", "3 days"))
    changed = ingest_paths(store, [tmp_path / "kb"], "acme")
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 3)
    assert "3 days" in search_knowledge(store, "shipping time", "acme", k=1)[0].text
    doc.unlink()
    pruned = ingest_paths(store, [tmp_path / "kb"], "acme", prune=True)
    assert pruned.removed == 2
    assert store.count("acme") == 2


def test_workspaces_are_isolated(tmp_path: Path, store: KnowledgeStore) -> None:
    ingest_paths(store, [_write(tmp_path, "faq.jsonl", FAQ_JSONL)], "brand-a")
    assert search_knowledge(store, "shipping", "brand-b") == []
    with pytest.raises(KnowledgeError, match="invalid workspace"):
        search_knowledge(store, "shipping", "../etc")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"id": "a", "question": "q", "answer": "a"}\n{"id": "b", "question": \n',
         "bad.jsonl:2: not valid JSON"),
        ("bad.csv", "q,a\nhello,world\n", "bad.csv:1: CSV needs a header"),
        ("short.csv", 'question,answer\n"q1","a1"\n"q2",\n', "short.csv:3: row needs both"),
        ("empty.md", "   \n", "empty.md: file is empty"),
        ("latin1.txt", "caf\xe9 ol\xe9".encode("latin-1"), "latin1.txt:1: not valid UTF-8"),
        ("junk.md", b"\x00\x01\x02binary", "junk.md: looks like a binary file"),
        ("doc.docx", "text", "unsupported file type"),
    ],
)
def test_bad_input_names_the_file_and_changes_nothing(
    tmp_path: Path, store: KnowledgeStore, name: str, content: str | bytes, message: str
) -> None:
    good = _write(tmp_path, "faq.jsonl", FAQ_JSONL)
    ingest_paths(store, [good], "acme")
    before = store.count("acme")
    bad = tmp_path / "kb" / name
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content)
    good.write_text(FAQ_JSONL.replace("2 days", "9 days"))
    with pytest.raises(IngestError, match=message.replace(".", r"\.")):
        ingest_paths(store, [good, bad], "acme")
    assert store.count("acme") == before
    assert "2 days" in search_knowledge(store, "shipping time", "acme", k=1)[0].text


def test_a_write_by_another_process_is_seen_by_the_next_search(tmp_path: Path, settings: Settings,
                                                               store: KnowledgeStore) -> None:
    """This process keeps collection handles while the store's database is unchanged; an ingest by another
    process (the CLI beside a running server) changes it, and the next opening sees the new generation: the
    lexical index is rebuilt with the new chunk and the search answers. (Its vectors stay invisible to this
    process's embedded Chroma, which is single-process: a server sharing knowledge between processes uses a
    Chroma server, REPLYDESK_CHROMA_URL.)"""
    ingest_paths(store, [_write(tmp_path, "care.md", DOC)], "acme")
    before = store.open("acme")
    assert before is not None
    assert search_knowledge(store, "where do I keep the bike in winter", "acme", k=1)[0].title == "Care > Storage"
    plates = _write(tmp_path, "plates.md", "# Kickstand plates\n\nOn sand, clip the wide kickstand plate under "
                    "the stand foot so the parked bike does not sink.\n")
    done = subprocess.run([sys.executable, "-m", "replydesk.cli", "ingest", str(plates), "--workspace", "acme"],
                          env=process_env(settings), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = store.open("acme")
    assert after is not None and after.generation != before.generation
    index = workspace_index(store, "acme", after.generation)
    assert index is not None and any("plates" in cid for cid in index.ids)
    assert search_knowledge(store, "where do I keep the bike in winter", "acme", k=1)[0].title == "Care > Storage"
