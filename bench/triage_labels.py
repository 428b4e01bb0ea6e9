"""Precision and recall of the triage labels that change what a CM does first: ``crisis``, ``complaint``
and ``praise``, on the labelled cases of the ``triage`` suite (each names the acceptable labels).

A prediction of label L is correct when L is among the case's acceptable labels; a case is a positive
for L when L is among them. Cases without an intent label are left out.
"""

from __future__ import annotations

import time

from agent.triage import Triager
from evals.casework import to_message
from evals.suites import load_suite

LABELS = ("crisis", "complaint", "praise")


def main() -> None:
    started = time.perf_counter()
    suite = load_suite("triage", None)
    cases = [(i, c) for i, c in enumerate(suite.cases) if c.expect.intent]
    results = Triager().triage_many([to_message(c, suite, i) for i, c in cases])
    print(f"{len(cases)} labelled cases of the triage suite; {time.perf_counter() - started:.1f} s")
    print("label      precision  recall  (predicted, correct, positives)")
    for label in LABELS:
        predicted = [(c, r) for (_i, c), r in zip(cases, results, strict=True) if r.category == label]
        correct = sum(1 for c, _r in predicted if label in (c.expect.intent or []))
        positives = sum(1 for _i, c in cases if label in (c.expect.intent or []))
        found = sum(1 for (_i, c), r in zip(cases, results, strict=True)
                    if label in (c.expect.intent or []) and r.category == label)
        precision = correct / len(predicted) if predicted else float("nan")
        recall = found / positives if positives else float("nan")
        print(f"{label:10} {precision:9.2f}  {recall:6.2f}  ({len(predicted)}, {correct}, {positives})")
    wrong = [(c.id, r.category, c.expect.intent) for (_i, c), r in zip(cases, results, strict=True)
             if r.category not in (c.expect.intent or [])]
    for case_id, got, wanted in wrong:
        print(f"  miss: {case_id}: {got}, expected one of {wanted}")
