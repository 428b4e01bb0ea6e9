"""Knowledge ids do not depend on where a checkout lives, and stores keyed by old path-bearing ids are
re-keyed on the next ingest without embedding anything again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knowledge.errors import IngestError
from knowledge.ingest import ingest_paths
from knowledge.loaders import iter_files, load_file
from knowledge.search import search_knowledge
from knowledge.store import KnowledgeStore
from tests.conftest import SAMPLES, make_settings


def _checkout(root: Path) -> Path:
    """A copy of samples/ at another path, as a second checkout would have it."""
    target = root / "samples"
    shutil.copytree(SAMPLES, target)
    return target


def _ids(store: KnowledgeStore, workspace: str = "default") -> dict[str, str]:
    return {cid: str(meta.get("source")) for cid, _text, meta in store.records(workspace, include_text=False)}


def test_two_checkouts_give_identical_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _checkout(tmp_path / "home" / "ana" / "replydesk")
    second = _checkout(tmp_path / "srv" / "ci" / "build-7" / "checkout")
    monkeypatch.chdir(tmp_path)  # neither checkout is the working directory
    one = KnowledgeStore(make_settings(tmp_path / "one"))
    two = KnowledgeStore(make_settings(tmp_path / "two"))
    ingest_paths(one, [first / "knowledge", first / "guidelines"], "default")
    ingest_paths(two, [second / "knowledge", second / "guidelines"], "default")
    ids_one, ids_two = _ids(one), _ids(two)
    assert ids_one == ids_two and len(ids_one) > 40
    assert "knowledge/getting-started.md#getting-started-with-your-lumen-first-charge" in ids_one
    for cid, source in ids_one.items():
        assert str(tmp_path) not in cid and not cid.startswith("/") and not source.startswith("/")
    # The second checkout ingested into the first one's store: nothing new, nothing embedded.
    again = ingest_paths(one, [second / "knowledge", second / "guidelines"], "default")
    assert (again.added, again.updated, again.embedded, again.unchanged) == (0, 0, 0, len(ids_one))


def test_old_path_ids_are_rekeyed_without_embedding(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path / "old" / "machine")
    store = KnowledgeStore(make_settings(tmp_path / "data"))
    # A store written by the old naming: sources as absolute paths of the ingesting machine.
    old_chunks = [c for path in iter_files([checkout / "knowledge"])
                  for c in load_file(path, source=str(path.resolve()))]
    store.ingest(old_chunks, "default")
    old_ids = set(_ids(store))
    assert any(cid.startswith(str(tmp_path)) for cid in old_ids)

    report = ingest_paths(store, [checkout / "knowledge"], "default")
    assert report.embedded == 0 and report.added == 0 and report.updated == 0
    assert report.rekeyed == len(old_ids)  # path-bearing ids moved; explicit ids get their new source name
    ids = _ids(store)
    assert len(ids) == len(old_ids)
    assert not [cid for cid in ids if cid.startswith("/")]
    assert all(not source.startswith("/") for source in ids.values())
    hits = search_knowledge(store, "what should I do before the first charge", "default", k=3)
    assert any(h.id.startswith("knowledge/getting-started.md#") for h in hits)
    assert all(not h.source.startswith("/") for h in hits)


def test_two_roots_with_one_name_are_refused(tmp_path: Path) -> None:
    for side in ("a", "b"):
        (tmp_path / side / "kb").mkdir(parents=True)
        (tmp_path / side / "kb" / "care.md").write_text("# Care\n\nCharge it.\n")
    store = KnowledgeStore(make_settings(tmp_path / "data"))
    with pytest.raises(IngestError, match="share this source name"):
        ingest_paths(store, [tmp_path / "a" / "kb", tmp_path / "b" / "kb"], "default")
    assert store.count("default") == 0
