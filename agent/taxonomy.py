"""Intent taxonomies: a team's own (labelled examples → a fitted classifier per workspace) and the built-in one.

A team's taxonomy is stored as one file per workspace under ``<data dir>/intents/`` (``<workspace>.npz``),
written to a temporary file and renamed into place, so every worker process sees either the old or the new
taxonomy, never half of one; readers notice a new file by its modification time and reload it.

The file holds data only, never code: the examples, their labels, their vectors (once, float32), and a
JSON header with the fit options and the calibration; it is read with ``allow_pickle=False``. A reader
refits the classifier from it (deterministic, calibration not repeated): whoever can write to the data
directory can change a taxonomy, but cannot run code. Taxonomies of earlier versions were pickles
(``<workspace>.taxonomy``): they are refused with a message naming ``replydesk intents migrate``, which
converts them once, on the operator's say-so.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import TaxonomyError
from agent.intents import OOS_LABELS, Calibration, IntentClassifier
from ground.settings import Settings
from knowledge.embeddings import embed_texts
from knowledge.store import check_workspace

FORMAT = 2
LEGACY_SUFFIX = ".taxonomy"  # format 1: a pickle
MAX_EXAMPLES = 200_000
MAX_TEXT_CHARS = 5_000
_TEXT_KEYS = ("text", "utterance", "query", "message")
_LABEL_KEYS = ("intent", "label", "category")
COMMUNITY_FILE = Path(__file__).parent / "data" / "community_intents.csv"
COMMUNITY_LABELS = (
    "question", "support_issue", "complaint", "feedback", "praise", "sales", "spam", "abuse", "crisis", "other",
)


@dataclass
class LoadReport:
    workspace: str
    examples: int
    intents: int
    out_of_scope_examples: int
    threshold: float
    calibration: str
    cv_accuracy: float | None
    cv_oos_recall: float | None
    seconds: float


def _pick(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    return next((lowered[k] for k in keys if k in lowered), None)


def _checked(source: str, line: int, text: Any, label: Any) -> tuple[str, str]:
    if not isinstance(text, str) or not text.strip():
        raise TaxonomyError(source, "missing or empty 'text'", line)
    if not isinstance(label, str) or not label.strip():
        raise TaxonomyError(source, "missing or empty 'intent' (also read as 'label' or 'category')", line)
    if len(text) > MAX_TEXT_CHARS:
        raise TaxonomyError(source, f"text is longer than {MAX_TEXT_CHARS} characters", line)
    return text.strip(), label.strip()


def read_examples(path: Path) -> list[tuple[str, str]]:
    """Labelled examples from CSV (``text,intent``; a header is optional) or JSONL (``{"text","intent"}``)."""
    source = str(path)
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".csv", ".tsv", ".txt"):
        raise TaxonomyError(source, "unsupported file type: use .csv (text,intent) or .jsonl")
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaxonomyError(source, f"cannot read the file: {exc}") from exc
    examples: list[tuple[str, str]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TaxonomyError(source, f"not valid JSON: {exc.msg}", number) from exc
            if not isinstance(row, dict):
                raise TaxonomyError(source, 'expected an object {"text", "intent"}', number)
            examples.append(_checked(source, number, _pick(row, _TEXT_KEYS), _pick(row, _LABEL_KEYS)))
    else:
        reader = csv.reader(io.StringIO(raw), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        rows = list(reader)
        header = [c.strip().lower() for c in rows[0]] if rows else []
        has_header = any(k in header for k in _TEXT_KEYS) and any(k in header for k in _LABEL_KEYS)
        text_col = next((header.index(k) for k in _TEXT_KEYS if k in header), 0) if has_header else 0
        label_col = next((header.index(k) for k in _LABEL_KEYS if k in header), 1) if has_header else 1
        for number, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(text_col, label_col):
                raise TaxonomyError(source, "expected the columns text,intent", number)
            examples.append(_checked(source, number, row[text_col], row[label_col]))
    if not examples:
        raise TaxonomyError(source, "no labelled examples found")
    if len(examples) > MAX_EXAMPLES:
        raise TaxonomyError(source, f"{len(examples)} examples; the limit is {MAX_EXAMPLES}")
    if all(label.lower() in OOS_LABELS for _, label in examples):
        raise TaxonomyError(source, "every example is labelled out of scope; add in-scope intents")
    return examples


class TaxonomyStore:
    """Fitted team taxonomies, one file per workspace under the data directory."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "intents"
        self._cache: dict[str, tuple[tuple[int, int], IntentClassifier]] = {}
        self._lock = threading.Lock()

    def path(self, workspace: str) -> Path:
        return self.root / f"{check_workspace(workspace)}.npz"

    def legacy_path(self, workspace: str) -> Path:
        return self.root / f"{check_workspace(workspace)}{LEGACY_SUFFIX}"

    def load_file(self, path: Path, workspace: str, **fit_options: Any) -> LoadReport:
        """Read, embed and fit a labelled-examples file, then replace the workspace's taxonomy."""
        started = time.perf_counter()
        examples = read_examples(path)
        texts = [t for t, _ in examples]
        labels = [label for _, label in examples]
        vectors = embed_texts(texts)
        classifier = IntentClassifier.fit(texts, labels, vectors, **fit_options)
        self._write(workspace, texts, labels, vectors, classifier, fit_options)
        cal = classifier.calibration
        return LoadReport(
            workspace=workspace, examples=len(examples), intents=len(classifier.labels),
            out_of_scope_examples=sum(label.lower() in OOS_LABELS for label in labels),
            threshold=round(cal.threshold, 4), calibration=cal.method, cv_accuracy=cal.cv_accuracy,
            cv_oos_recall=cal.cv_oos_recall, seconds=round(time.perf_counter() - started, 1),
        )

    def _write(
        self, workspace: str, texts: list[str], labels: list[str], vectors: np.ndarray,
        classifier: IntentClassifier, fit_options: dict[str, Any],
    ) -> None:
        target = self.path(workspace)
        target.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": FORMAT, "workspace": workspace, "created_at": datetime.now(UTC).isoformat(),
            "fit_options": {k: v for k, v in fit_options.items() if k not in ("threshold", "calibrate")},
            "calibration": asdict(classifier.calibration),
        }
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with temporary.open("wb") as handle:
            np.savez(handle, header=np.array(json.dumps(header, default=float)), texts=np.array(texts, dtype=str),
                     labels=np.array(labels, dtype=str), vectors=vectors.astype(np.float32))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)  # atomic: readers see the old or the new taxonomy

    def get(self, workspace: str) -> IntentClassifier | None:
        """The workspace's taxonomy, reloaded when another process replaced the file."""
        path = self.path(workspace)
        try:
            stat = path.stat()
        except FileNotFoundError:
            if self.legacy_path(workspace).exists():
                raise TaxonomyError(str(self.legacy_path(workspace)), LEGACY_MESSAGE) from None
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(workspace)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            classifier = self._read(path)
            self._cache[workspace] = (stamp, classifier)
            return classifier

    def _read(self, path: Path) -> IntentClassifier:
        try:
            with np.load(path, allow_pickle=False) as stored:
                header = json.loads(str(stored["header"]))
                texts, labels = stored["texts"].tolist(), stored["labels"].tolist()
                vectors = stored["vectors"]
        except (OSError, ValueError, KeyError) as exc:
            raise TaxonomyError(str(path), f"cannot read the stored taxonomy: {exc}") from exc
        if header.get("format") != FORMAT:
            raise TaxonomyError(str(path), "stored with another format; load the examples again")
        return _refit(texts, labels, vectors, header.get("fit_options", {}), header.get("calibration"))

    def migrate_legacy(self, workspace: str) -> bool:
        """Convert a format-1 (pickled) taxonomy to this format and delete the pickle; False when there is none.
        Reading a pickle can run code: this runs only when the operator asks (``replydesk intents migrate``)."""
        legacy = self.legacy_path(workspace)
        if not legacy.exists():
            return False
        import pickle  # only here, on the operator's explicit command

        try:
            with legacy.open("rb") as handle:
                payload = pickle.load(handle)  # the operator vouches for this file
            calibration = asdict(pickle.loads(payload["classifier"]).calibration) if "classifier" in payload else None
            texts, labels = list(payload["texts"]), list(payload["labels"])
            vectors = np.asarray(payload["vectors"], dtype=np.float32)
        except Exception as exc:  # whatever the old file holds, say which file could not be converted
            raise TaxonomyError(str(legacy), f"cannot convert the old taxonomy: {exc}") from exc
        options = payload.get("fit_options", {})
        classifier = _refit(texts, labels, vectors, options, calibration)
        self._write(workspace, texts, labels, vectors, classifier, options)
        legacy.unlink()
        return True

    def legacy_workspaces(self) -> list[str]:
        return sorted(p.name[: -len(LEGACY_SUFFIX)] for p in self.root.glob(f"*{LEGACY_SUFFIX}"))

    def describe(self, workspace: str) -> dict[str, Any] | None:
        classifier = self.get(workspace)
        if classifier is None:
            return None
        cal = classifier.calibration
        return {
            "workspace": workspace, "intents": classifier.labels, "out_of_scope_label": classifier.oos_label,
            "threshold": cal.threshold, "calibration": cal.method, "cv_accuracy": cal.cv_accuracy,
            "cv_oos_recall": cal.cv_oos_recall,
        }

    def remove(self, workspace: str) -> bool:
        with self._lock:
            self._cache.pop(workspace, None)
        removed = False
        for path in (self.path(workspace), self.legacy_path(workspace)):
            if path.exists():
                path.unlink()
                removed = True
        return removed


LEGACY_MESSAGE = ("stored by an earlier version as a pickle, which this version does not load (a pickle can run "
                  "code); convert it with 'replydesk intents migrate' if you trust the file, or load the examples "
                  "again with 'replydesk intents load'")


def _refit(texts: list[str], labels: list[str], vectors: np.ndarray, fit_options: dict[str, Any],
           calibration: dict[str, Any] | None) -> IntentClassifier:
    """The classifier again from stored examples; the stored calibration is reused, not recomputed."""
    if calibration is None:
        return IntentClassifier.fit(texts, labels, vectors, **fit_options)
    options = {k: v for k, v in fit_options.items() if k not in ("threshold", "calibrate")}
    classifier = IntentClassifier.fit(texts, labels, vectors, calibrate=False, **options)
    classifier.calibration = Calibration(**calibration)
    return classifier


_community: IntentClassifier | None = None
_community_lock = threading.Lock()


def community_classifier() -> IntentClassifier:
    """The built-in community taxonomy, fitted once per process from the bundled examples (~1 s)."""
    global _community
    with _community_lock:
        if _community is None:
            examples = read_examples(COMMUNITY_FILE)
            texts = [t for t, _ in examples]
            labels = [label for _, label in examples]
            _community = IntentClassifier.fit(texts, labels, embed_texts(texts), max_accuracy_loss=0.1)
        return _community
