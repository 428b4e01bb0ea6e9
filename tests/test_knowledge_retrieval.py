"""Hybrid, context-aware retrieval against real Chroma (embedded here; a Chroma server in
test_chroma_server.py runs the same checks through ``retrieval_checks``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ground import settings as settings_module
from ground.settings import Settings
from knowledge import store as store_module
from knowledge.errors import EmbeddingModelMismatch, KnowledgeError
from knowledge.ingest import ingest_paths
from knowledge.lexical import workspace_index
from knowledge.maintenance import reindex
from knowledge.search import guidelines_for, retrieve, search_knowledge
from knowledge.store import KnowledgeStore
from replydesk.cli import app

HOTELS = {"hotels": [
    {"name": "Bridge Guest House", "faqs": [
        {"question": "Is parking available at Bridge Guest House?", "answer": "Yes, free parking on site."},
        {"question": "Does Bridge Guest House have wifi?", "answer": "Yes, free wifi in every room."}]},
    {"name": "Kirkwood House", "faqs": [
        {"question": "Is parking available at Kirkwood House?", "answer": "No, Kirkwood House has no parking."},
        {"question": "Does Kirkwood House have wifi?", "answer": "Only in the lobby."}],
     "reviews": [{"sentences": ["Worth every penny.", "Breakfast was great."]}]},
]}
SUPPORT = [
    {"id": "err-4711", "question": "What does error E-4711 mean?", "answer": "The motor controller overheated; "
     "let it cool for ten minutes.", "metadata": {"platform": "discord", "tags": ["motor"]}},
    {"id": "returns", "question": "What is your return window?", "answer": "30 days from delivery.",
     "metadata": {"platform": "x"}},
    {"id": "warranty", "question": "How long is the warranty?", "answer": "Two years on the frame and battery."},
]
GUIDE_X = "---\nkind: guideline\nplatform: x\nmax_chars: 280\n---\n# Replying on X\nKeep it under 280 characters.\n"
GUIDE_BRAND = "---\nkind: guideline\n---\n# Brand voice\nFriendly, never pushy. Return window questions welcome.\n"


def write_kb(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hotels.json").write_text(json.dumps(HOTELS))
    (folder / "support.jsonl").write_text("\n".join(json.dumps(r) for r in SUPPORT) + "\n")
    (folder / "x.md").write_text(GUIDE_X)
    (folder / "brand.md").write_text(GUIDE_BRAND)
    return [folder]


def retrieval_checks(store: KnowledgeStore, tmp_path: Path) -> None:
    """The retrieval behaviour every deployment must show (embedded or Chroma server)."""
    ingest_paths(store, write_kb(tmp_path / "kb"), "acme")
    # Context: the thread names the hotel, the message only says "there".
    kirkwood = retrieve(store, "is there parking there?", "acme", k=3,
                        context=["I want to stay at Kirkwood House", "Kirkwood House is a 4-star guesthouse."])
    assert kirkwood.entities == ["Kirkwood House"]
    assert kirkwood.hits[0].answer == "No, Kirkwood House has no parking."
    assert "entity-dense" in kirkwood.hits[0].retrievers
    bridge = search_knowledge(store, "is there parking there?", "acme", k=3,
                              context="Do you know Bridge Guest House?\nYes, it is in the south.")
    assert bridge[0].answer == "Yes, free parking on site."
    # Lexical half: an error code is found by BM25.
    code = retrieve(store, "E-4711", "acme", k=3)
    assert code.hits[0].id == "err-4711" and "bm25" in code.hits[0].retrievers
    # Filters, and "no confident answer".
    assert [h.id for h in search_knowledge(store, "return window", "acme", filters={"platform": "discord"})] == [
        "err-4711"]
    assert {h.kind for h in search_knowledge(store, "parking", "acme", k=10, filters={"kind": "review"})} == {"review"}
    weak = retrieve(store, "lattice quantum chromodynamics", "acme", min_score=0.5)
    assert (weak.confident, weak.hits) == (False, [])
    # Guidelines are selected by metadata, never by similarity.
    assert all(h.kind != "guideline" for h in search_knowledge(store, "replying on X under 280 characters", "acme"))
    assert {g.title for g in guidelines_for(store, "acme", "x")} == {"Replying on X", "Brand voice"}
    assert {g.title for g in guidelines_for(store, "acme", "reddit")} == {"Brand voice"}


def isolation_checks(store: KnowledgeStore, tmp_path: Path) -> None:
    """Two brands in one install: same ids, different answers, never mixed."""
    for ws, answer in (("brand-a", "A ships in 2 days"), ("brand-b", "B ships in 9 days zebrafish")):
        folder = tmp_path / ws
        folder.mkdir()
        (folder / "faq.jsonl").write_text(json.dumps({"id": "ship", "question": "Shipping time?", "answer": answer}))
        ingest_paths(store, [folder], ws)
    for ws, own in (("brand-a", "A ships"), ("brand-b", "B ships")):
        hits = search_knowledge(store, "shipping time zebrafish", ws, k=10)
        assert [h.id for h in hits] == ["ship"] and own in (hits[0].answer or "")
    assert search_knowledge(store, "zebrafish", "brand-a", k=10)[0].answer == "A ships in 2 days"
    doc_b = store.documents("brand-b")[0]
    assert store.delete_document("brand-a", doc_b.id) == 0  # B's document cannot be reached from A
    assert store.delete_document("brand-a", store.documents("brand-a")[0].id) == 1
    assert store.count("brand-a") == 0 and store.count("brand-b") == 1
    assert search_knowledge(store, "shipping", "brand-a") == []


def test_retrieval(settings: Settings, tmp_path: Path) -> None:
    retrieval_checks(KnowledgeStore(settings), tmp_path)


def test_workspaces_are_isolated(settings: Settings, tmp_path: Path) -> None:
    isolation_checks(KnowledgeStore(settings), tmp_path)


def test_lexical_index_follows_writes(settings: Settings, tmp_path: Path) -> None:
    store = KnowledgeStore(settings)
    ingest_paths(store, write_kb(tmp_path / "kb"), "acme")
    first = workspace_index(store, "acme")
    assert first is not None and workspace_index(store, "acme") is first  # cached
    extra = tmp_path / "more.jsonl"
    extra.write_text('{"id": "pedals", "question": "Are pedals included?", "answer": "Yes, flat pedals xq77."}\n')
    ingest_paths(store, [extra], "acme")
    assert retrieve(store, "xq77", "acme").hits[0].id == "pedals"
    assert workspace_index(store, "acme") is not first
    unchanged = store.generation("acme")
    ingest_paths(store, [extra], "acme")  # nothing changed: the index stays valid
    assert store.generation("acme") == unchanged


def test_bad_queries_are_knowledge_errors(settings: Settings, tmp_path: Path) -> None:
    store = KnowledgeStore(settings)
    ingest_paths(store, write_kb(tmp_path / "kb"), "acme")
    with pytest.raises(KnowledgeError, match="unknown filter 'colour'"):
        search_knowledge(store, "parking", "acme", filters={"colour": "red"})
    with pytest.raises(KnowledgeError, match="invalid workspace"):
        search_knowledge(store, "parking", "Acme!")
    assert search_knowledge(store, "parking", "empty-workspace") == []


def test_embedding_model_change_is_refused_until_reindex(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KnowledgeStore(settings)
    ingest_paths(store, write_kb(tmp_path / "kb"), "acme")
    before = [h.id for h in search_knowledge(store, "wifi at kirkwood", "acme")]
    collection = store.client.get_collection("kb-acme")
    collection.modify(metadata={**(collection.metadata or {}), "embedding_model": "some-older-model"})
    with pytest.raises(EmbeddingModelMismatch, match="replydesk reindex --workspace acme"):
        search_knowledge(store, "wifi", "acme")
    with pytest.raises(EmbeddingModelMismatch):
        ingest_paths(store, write_kb(tmp_path / "kb"), "acme")
    monkeypatch.setenv("REPLYDESK_DATA_DIR", str(settings.data_dir))
    settings_module.get_settings.cache_clear()
    try:
        refused = CliRunner().invoke(app, ["search", "wifi", "--workspace", "acme"])
        assert refused.exit_code == 1 and "replydesk reindex" in refused.output
        done = CliRunner().invoke(app, ["reindex", "--workspace", "acme"])
        assert done.exit_code == 0, done.output
        assert "chunks re-embedded" in done.output
    finally:
        settings_module.get_settings.cache_clear()
    assert [h.id for h in search_knowledge(store, "wifi at kirkwood", "acme")] == before


def test_reindex_replaces_the_cached_question_collection(settings: Settings, tmp_path: Path) -> None:
    """Each reindex makes new collections; the opened question collection is cached per workspace, so
    repeated reindexes leave one entry (the current one), and searches read the new collections."""
    store = KnowledgeStore(settings)
    ingest_paths(store, write_kb(tmp_path / "kb"), "acme")
    before = [h.id for h in search_knowledge(store, "wifi at kirkwood", "acme")]
    for _ in range(3):
        reindex(store, "acme")
        assert [h.id for h in search_knowledge(store, "wifi at kirkwood", "acme")] == before
    cached = [place for place in store_module._questions_of if place[0] == store.key]
    assert cached == [(store.key, "acme")]
    assert store_module._questions_of[(store.key, "acme")][0] == str(store.client.get_collection("kb-acme").id)
