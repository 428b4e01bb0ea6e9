"""Intent and out-of-scope evaluations on public data (BANKING77, CLINC150), offline.

- BANKING77 as a team taxonomy: a stratified 80/20 split of its train.csv (seeded); the 80% is loaded
  exactly as ``replydesk intents load`` would (with its own cross-validated calibration); accuracy on the
  held-out 20%. The official test split is withheld and never used here.
- CLINC150 ("full"): fit on ``train`` (in-scope only), choose the out-of-scope threshold on ``val`` +
  ``oos_val`` (the most out-of-scope recall with in-scope accuracy ≥ target), report on ``test`` +
  ``oos_test``. Also reported: the threshold the product calibrates by itself from ``train`` +
  ``oos_train`` (what a team gets when its examples include out-of-scope ones).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agent.intents import IntentClassifier
from knowledge.embeddings import embed_texts

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def banking77(data: Path, *, test_size: float = 0.2, seed: int = 0, progress: Progress = _quiet) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    path = data / "banking77" / "train.csv"
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = [r["text"] for r in rows]
    labels = [r["category"] for r in rows]
    progress(f"embedding {len(texts)} BANKING77 texts")
    vectors = embed_texts(texts)
    train, test = train_test_split(
        np.arange(len(texts)), test_size=test_size, random_state=seed, stratify=labels
    )
    progress(f"fitting on {len(train)} examples (with cross-validated calibration)")
    started = time.perf_counter()
    clf = IntentClassifier.fit([texts[i] for i in train], [labels[i] for i in train], vectors[train])
    fit_seconds = time.perf_counter() - started
    predictions = clf.predict([texts[i] for i in test], vectors[test])
    gold = [labels[i] for i in test]
    nearest = vectors[test] @ vectors[train].T
    one_nn = [labels[train[j]] for j in nearest.argmax(axis=1)]
    return {
        "dataset": f"banking77 train.csv, stratified 80/20 split (seed {seed})",
        "train_examples": len(train),
        "heldout_examples": len(test),
        "intents": len(clf.labels),
        "accuracy": round(float(np.mean([p.intent == g for p, g in zip(predictions, gold, strict=True)])), 4),
        "accuracy_closed_set": round(
            float(np.mean([p.top_intent == g for p, g in zip(predictions, gold, strict=True)])), 4
        ),
        "baseline_1nn_accuracy": round(float(np.mean([p == g for p, g in zip(one_nn, gold, strict=True)])), 4),
        "rejected_as_out_of_scope": round(float(np.mean([p.out_of_scope for p in predictions])), 4),
        "threshold": round(clf.calibration.threshold, 4),
        "calibration": clf.calibration.method,
        "fit_seconds": round(fit_seconds, 1),
    }


def _scored(clf: IntentClassifier, texts: list[str], vectors: np.ndarray,
            gold: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    predictions = clf.predict(texts, vectors)
    scores = np.array([p.scope_score for p in predictions])
    right = np.array([p.top_intent == g for p, g in zip(predictions, gold, strict=True)])
    return scores, right, np.array([g == "oos" for g in gold])


def _scope_metrics(scores: np.ndarray, right: np.ndarray, is_oos: np.ndarray, threshold: float) -> tuple[float, float]:
    """In-scope accuracy (an in-scope message rejected counts as wrong) and out-of-scope recall."""
    kept = scores >= threshold
    accuracy = float((right & kept)[~is_oos].mean())
    recall = float((~kept)[is_oos].mean())
    return accuracy, recall


def clinc150(data: Path, *, target_accuracy: float = 0.91, progress: Progress = _quiet) -> dict[str, Any]:
    raw = json.loads((data / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    split: dict[str, tuple[list[str], list[str], np.ndarray]] = {}
    for name in ("train", "oos_train", "val", "oos_val", "test", "oos_test"):
        texts = [row[0] for row in raw[name]]
        progress(f"embedding CLINC150 {name} ({len(texts)})")
        split[name] = (texts, [row[1] for row in raw[name]], embed_texts(texts))

    def joined(a: str, b: str) -> tuple[list[str], list[str], np.ndarray]:
        return split[a][0] + split[b][0], split[a][1] + split[b][1], np.vstack([split[a][2], split[b][2]])

    progress("fitting on train (in-scope only)")
    clf = IntentClassifier.fit(split["train"][0], split["train"][1], split["train"][2], calibrate=False)
    val_texts, val_gold, val_vectors = joined("val", "oos_val")
    val = _scored(clf, val_texts, val_vectors, val_gold)
    best = (0.0, 0.0, 1.0)
    progress("choosing the threshold on val")
    for threshold in np.unique(val[0]):
        accuracy, recall = _scope_metrics(*val, float(threshold))
        if accuracy >= target_accuracy and recall > best[1]:
            best = (float(threshold), recall, accuracy)
    test_texts, test_gold, test_vectors = joined("test", "oos_test")
    test_accuracy, test_recall = _scope_metrics(*_scored(clf, test_texts, test_vectors, test_gold), best[0])
    progress("fitting as the product does: train + oos_train, self-calibrated")
    auto = IntentClassifier.fit(*joined("train", "oos_train"))
    auto_accuracy, auto_recall = _scope_metrics(*_scored(auto, test_texts, test_vectors, test_gold),
                                                auto.calibration.threshold)
    return {
        "dataset": "clinc150 data_full: fit on train, threshold on val, report on test",
        "intents": len(clf.labels),
        "val_target_inscope_accuracy": target_accuracy,
        "threshold": round(best[0], 4),
        "val_inscope_accuracy": round(best[2], 4),
        "val_oos_recall": round(best[1], 4),
        "test_inscope_accuracy": round(test_accuracy, 4),
        "test_oos_recall": round(test_recall, 4),
        "self_calibrated": {
            "threshold": round(auto.calibration.threshold, 4),
            "method": auto.calibration.method,
            "test_inscope_accuracy": round(auto_accuracy, 4),
            "test_oos_recall": round(auto_recall, 4),
        },
    }
