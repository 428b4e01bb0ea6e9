"""Safe files (issue 13, item 7).

OWASP API8:2023 Security misconfiguration — the master key and the canary are created atomically and an
empty one is refused (never "every secret derived from an empty key"); a taxonomy file is data, never code;
the embedding model is the pinned one or is not loaded.
"""

from __future__ import annotations

import json
import pickle
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.errors import TaxonomyError
from agent.guard import load_canary
from agent.taxonomy import FORMAT, TaxonomyStore
from desk.signing import derive_secret, master_key
from ground.files import SecretFileError
from ground.settings import get_settings
from knowledge.embeddings import ModelFileError, _model_files, embed_texts, verify_model_file
from replydesk.cli import app
from testkit.live import make_settings

EXAMPLES = {
    "returns": ["how do I send my bike back", "I want to return my order", "return label please",
                "can I get a refund for the helmet", "send back the jacket"],
    "warranty": ["the frame cracked after a month", "is the battery covered by warranty",
                 "warranty claim for my bike", "my brakes broke, is it covered", "the motor stopped working"],
}


def test_empty_master_key_is_refused(tmp_path: Path) -> None:
    """API8: an empty key file (a crashed or racing writer's) stops the server instead of keying every
    webhook secret with nothing."""
    settings = make_settings(tmp_path)
    settings.ensure_dirs()
    settings.secret_key_path.write_text("")
    with pytest.raises(SecretFileError, match="master key"):
        master_key(settings)
    with pytest.raises(SecretFileError):
        derive_secret(settings, "outbound", "default", 0)


def test_racing_processes_share_one_complete_master_key_and_canary(tmp_path: Path) -> None:
    """API8: many creators at once all read the same full key (the file appears whole, or not at all)."""
    for round_ in range(5):
        settings = make_settings(tmp_path / str(round_))
        with ThreadPoolExecutor(16) as pool:
            keys = set(pool.map(master_key, [settings] * 64))
            canaries = set(pool.map(load_canary, [settings] * 64))
        assert len(keys) == 1 and len(next(iter(keys))) >= 32
        assert len(canaries) == 1 and len(next(iter(canaries))) >= 12
        assert oct(settings.secret_key_path.stat().st_mode & 0o777) == "0o600"
        assert not [p for p in settings.data_dir.iterdir() if p.name.endswith(".tmp")]


def test_empty_canary_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.ensure_dirs()
    (settings.data_dir / "canary.txt").write_text("")
    with pytest.raises(ValueError, match="canary"):
        load_canary(settings)


def _examples_file(tmp_path: Path) -> Path:
    path = tmp_path / "examples.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "intent": i}) for i, ts in EXAMPLES.items() for t in ts))
    return path


class _Planted:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (str(self.marker), "code ran"))


def test_taxonomy_file_is_data_not_code(tmp_path: Path) -> None:
    """API8: the stored taxonomy loads with allow_pickle=False, holds the vectors once, and a pickle planted
    where an old taxonomy lived is refused with the migration command named, without being unpickled."""
    settings = make_settings(tmp_path)
    store = TaxonomyStore(settings)
    store.load_file(_examples_file(tmp_path), "default")
    with np.load(store.path("default"), allow_pickle=False) as stored:
        assert sorted(stored.files) == ["header", "labels", "texts", "vectors"]
        assert stored["vectors"].shape == (10, 384)
    fresh = TaxonomyStore(settings).get("default")
    assert fresh is not None and fresh.labels == ["returns", "warranty"]

    marker = tmp_path / "pwned"
    planted = TaxonomyStore(settings)
    planted.legacy_path("lumen").write_bytes(pickle.dumps({"format": 1, "classifier": _Planted(marker)}))
    with pytest.raises(TaxonomyError, match="replydesk intents migrate"):
        planted.get("lumen")
    assert not marker.exists()


def test_old_pickled_taxonomy_is_converted_by_the_migrate_command(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A taxonomy written by the previous version (format 1, a pickle) is converted on the operator's command
    and then loads as data; the pickle is gone."""
    settings = make_settings(tmp_path)
    store = TaxonomyStore(settings)
    store.load_file(_examples_file(tmp_path), "default")
    classifier = store.get("default")
    texts = [t for ts in EXAMPLES.values() for t in ts]
    labels = [i for i, ts in EXAMPLES.items() for _ in ts]
    legacy = {"format": 1, "sklearn": "0", "workspace": "default", "created_at": "2026-01-01T00:00:00+00:00",
              "texts": texts, "labels": labels, "vectors": embed_texts(texts), "fit_options": {},
              "classifier": pickle.dumps(classifier)}
    store.path("default").unlink()
    store.legacy_path("default").write_bytes(pickle.dumps(legacy))
    monkeypatch.setenv("REPLYDESK_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["intents", "migrate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "default: converted" in result.output
    assert not store.legacy_path("default").exists()
    migrated = TaxonomyStore(settings).get("default")
    assert migrated is not None and migrated.labels == ["returns", "warranty"]
    assert FORMAT == 2


def test_embedding_model_files_are_checked_against_pinned_digests(tmp_path: Path) -> None:
    """API8: the shipped files match their pinned SHA-256; a changed copy is refused, naming the file."""
    for path in _model_files():
        assert verify_model_file(path) == path
    tampered = tmp_path / "tokenizer.json"
    shutil.copy(_model_files()[1], tampered)
    with tampered.open("ab") as handle:
        handle.write(b" ")
    with pytest.raises(ModelFileError, match="not the pinned embedding model file"):
        verify_model_file(tampered)
