"""The CLI as a user runs it (in-process through typer's runner, real files and stores)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ground import settings as settings_module
from replydesk.cli import app
from tests.conftest import SAMPLES

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("REPLYDESK_DATA_DIR", str(tmp_path / "data"))
    settings_module.get_settings.cache_clear()
    yield tmp_path / "data"
    settings_module.get_settings.cache_clear()


def test_ingest_search_and_batch(tmp_path: Path) -> None:
    first = runner.invoke(app, ["ingest", str(SAMPLES / "knowledge"), "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["added"] > 40
    second = runner.invoke(app, ["ingest", str(SAMPLES / "knowledge"), "--json"])
    assert json.loads(second.stdout)["added"] == 0

    found = runner.invoke(app, ["search", "how long to charge the battery", "--json", "--k", "2"])
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)
    assert "faq-charging-time" in [h["id"] for h in hits]
    assert {"id", "score", "kind", "source"} <= set(hits[0])

    batch = tmp_path / "q.jsonl"
    batch.write_text('{"id": "q1", "query": "return window"}\n{"id": "q2", "query": "charge", "context": "Cargo"}\n')
    out = runner.invoke(app, ["search", "--batch", str(batch), "--json"])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["q1", "q2"]
    assert set(lines[0]["hits"][0]) == {"id", "score", "kind", "source"}


def test_ingest_error_is_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "q"}\n')
    result = runner.invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 1
    assert "bad.jsonl:1" in result.output
    assert "needs both" in result.output


def test_keys_and_load_messages(data_dir: Path) -> None:
    created = runner.invoke(app, ["keys", "create", "--role", "viewer"])
    assert created.exit_code == 0, created.output
    assert created.stdout.strip().startswith("rdk_")
    wrong = runner.invoke(app, ["keys", "create", "--role", "owner"])
    assert wrong.exit_code == 1
    loaded = runner.invoke(app, ["load-messages", str(SAMPLES / "messages.jsonl")])
    assert loaded.exit_code == 0, loaded.output
    assert "queued 10 new messages" in loaded.output
    again = runner.invoke(app, ["load-messages", str(SAMPLES / "messages.jsonl")])
    assert "queued 0 new messages (10 already known)" in again.output
    db = (data_dir / "replydesk.db").read_bytes()
    assert created.stdout.strip().encode() not in db
