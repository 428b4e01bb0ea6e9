"""Knowledge over HTTP: upload (admin only), list with counts, delete, and thread-aware search."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ground import settings as settings_module
from ground.settings import Settings
from replydesk.cli import app
from testkit.live import SHARED_DATA, LiveServer
from tests.test_knowledge_retrieval import HOTELS

FAQ_CSV = "question,answer,platform\nDo you ship to Norway?,Yes within 5 days.,x\nIs there a warranty?,Two years.,\n"


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(settings.model_copy(update={"worker_enabled": False})).start()
    yield live
    live.stop()


def test_upload_list_search_delete(server: LiveServer) -> None:
    with server.client("admin") as admin, server.client("viewer") as viewer, server.client("cm") as cm:
        denied = cm.post("/v1/knowledge/documents", files={"file": ("faq.csv", FAQ_CSV.encode())})
        assert denied.status_code == 403
        created = admin.post("/v1/knowledge/documents", files={"file": ("faq.csv", FAQ_CSV.encode())})
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["added"], body["document"]["chunks"], body["document"]["source"]) == (2, 2, "upload/faq.csv")
        hotels = admin.post("/v1/knowledge/documents", files={"file": ("hotels.json", json.dumps(HOTELS).encode())},
                            data={"workspace": "travel"})
        assert hotels.status_code == 201 and hotels.json()["workspace"] == "travel"

        listed = viewer.get("/v1/knowledge/documents").json()
        assert listed["count"] == 1 and listed["data"][0]["chunks"] == 2
        assert viewer.get("/v1/knowledge/documents", params={"workspace": "travel"}).json()["data"][0]["chunks"] == 5

        again = admin.post("/v1/knowledge/documents", files={"file": ("faq.csv", FAQ_CSV.replace("5 days", "3 days")
                                                                      .encode())})
        assert (again.json()["updated"], again.json()["unchanged"]) == (1, 1)

        search = viewer.post("/v1/knowledge/search", json={
            "query": "is there parking there?", "k": 2, "workspace": "travel",
            "context": [{"author": "guest", "text": "Tell me about Kirkwood House"}, "It is a 4-star guesthouse."],
        }).json()
        assert search["entities"] == ["Kirkwood House"] and search["confident"] is True
        assert search["hits"][0]["answer"] == "No, Kirkwood House has no parking."
        filtered = viewer.post("/v1/knowledge/search", json={"query": "shipping", "filters": {"platform": "x"}}).json()
        assert [h["title"] for h in filtered["hits"]] == ["Do you ship to Norway?"]
        assert "3 days" in filtered["hits"][0]["text"]
        unsure = viewer.post("/v1/knowledge/search", json={"query": "lattice chromodynamics", "min_score": 0.6}).json()
        assert unsure == {"hits": [], "confident": False, "entities": []}
        bad_filter = viewer.post("/v1/knowledge/search", json={"query": "x", "filters": {"colour": "red"}})
        assert bad_filter.status_code == 400 and "unknown filter" in bad_filter.json()["detail"]

        doc_id = listed["data"][0]["id"]
        assert viewer.delete(f"/v1/knowledge/documents/{doc_id}").status_code == 403
        deleted = admin.delete(f"/v1/knowledge/documents/{doc_id}")
        assert deleted.json() == {"id": doc_id, "workspace": "default", "chunks_deleted": 2}
        assert admin.delete(f"/v1/knowledge/documents/{doc_id}").status_code == 404
        assert viewer.get("/v1/knowledge/documents").json() == {"data": [], "count": 0}
        assert viewer.get("/v1/knowledge/documents", params={"workspace": "travel"}).json()["count"] == 1


def test_upload_needs_a_supported_named_file(server: LiveServer) -> None:
    with server.client("admin") as admin:
        for name, expected in (("notes.docx", "unsupported file type"), ("", "needs a name")):
            response = admin.post("/v1/knowledge/documents", files={"file": (name, b"hello")})
            assert response.status_code in (400, 422), response.text
            assert expected in response.text or response.status_code == 422
        missing = admin.post("/v1/knowledge/documents", data={"workspace": "x"})
        assert missing.status_code == 422


@pytest.fixture
def cli_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("REPLYDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    settings_module.get_settings.cache_clear()
    yield tmp_path
    settings_module.get_settings.cache_clear()


def test_cli_ingest_prune_documents_and_batch_context(cli_data: Path) -> None:
    runner = CliRunner()
    kb = cli_data / "kb"
    kb.mkdir()
    (kb / "hotels.json").write_text(json.dumps(HOTELS))
    (kb / "faq.csv").write_text(FAQ_CSV)
    first = json.loads(runner.invoke(app, ["ingest", "kb", "--json"]).stdout)
    assert (first["added"], first["files"], first["embedded"]) == (7, 2, 13)  # 7 chunks + 6 FAQ questions
    summary = runner.invoke(app, ["ingest", "kb"])
    assert "unchanged 7" in summary.output and "kb/hotels.json" in summary.output
    (kb / "faq.csv").unlink()
    pruned = json.loads(runner.invoke(app, ["ingest", "kb", "--prune", "--json"]).stdout)
    assert pruned["removed"] == 2
    docs = json.loads(runner.invoke(app, ["documents", "--json"]).stdout)
    assert [(d["source"], d["chunks"]) for d in docs] == [("kb/hotels.json", 5)]
    batch = cli_data / "queries.jsonl"
    batch.write_text(json.dumps({"id": "t1", "query": "does it have wifi?",
                                 "context": ["We booked Bridge Guest House", "Great choice!"]}) + "\n")
    out = runner.invoke(app, ["search", "--batch", str(batch), "--json", "--k", "1"])
    assert out.exit_code == 0, out.output
    line = json.loads(out.stdout)
    assert line["id"] == "t1" and line["hits"][0]["id"].endswith("hotels.json#hotels/0/faqs/1")


@pytest.mark.skipif(not (SHARED_DATA / "covidqa_faq").exists(), reason="needs ../shared/data/covidqa_faq")
def test_eval_retrieval_runs_on_a_slice(cli_data: Path) -> None:
    out = CliRunner().invoke(app, ["eval", "retrieval", "--dataset", "covid", "--limit", "20", "--json",
                                   "--data", str(SHARED_DATA)])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout.splitlines()[-1])
    assert {r["method"] for r in rows} == {"hybrid+context", "dense (last turn)", "dense+bm25 (last turn)"}
    assert all(r["n"] == 20 and 0 <= r["recall@5"] <= 1 for r in rows)


def test_eval_retrieval_says_what_data_it_needs(cli_data: Path) -> None:
    out = CliRunner().invoke(app, ["eval", "retrieval", "--data", str(cli_data / "nowhere")])
    assert out.exit_code == 0
    assert "needs" in out.output and "faq_covidbert.csv" in out.output and "nothing to evaluate" in out.output
