"""Our own offline eval suites gate every change: a case that passed in the committed baseline
(evals/baseline-offline.json) and fails now fails `make test`.

The suites run as `replydesk eval run accuracy tone triage retrieval` does with no LLM configured: the
real graph, the offline composer, no judge. They are deterministic, so a verdict that flips is a change
in behaviour, not noise. Improving the baseline is a reviewed change to that file: run this test with
``REPLYDESK_UPDATE_BASELINE=1`` and commit the new file with the change that earned it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from evals.runner import EvalRunner, RunOptions
from testkit.live import make_settings

SUITES = ["accuracy", "tone", "triage", "retrieval"]
BASELINE = Path(__file__).resolve().parent.parent / "evals" / "baseline-offline.json"


def test_offline_suites_keep_every_case_that_passed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert not settings.llm_enabled and not settings.judge_enabled
    result = EvalRunner(settings, RunOptions(suites=SUITES, judge=False, cache=False, label="baseline-test")).execute()
    current = result.verdicts
    assert any("offline composer" in note for note in result.notes)
    if os.environ.get("REPLYDESK_UPDATE_BASELINE"):
        passed = {s: sum(1 for k, v in current.items() if k.startswith(f"{s}/") and v == "pass") for s in SUITES}
        totals = {s: sum(1 for k in current if k.startswith(f"{s}/")) for s in SUITES}
        BASELINE.write_text(json.dumps({
            "command": "replydesk eval run " + " ".join(SUITES) + "  (no LLM: offline composer, no judge)",
            "pass_rates": {s: f"{passed[s]}/{totals[s]}" for s in SUITES},
            "verdicts": dict(sorted(current.items())),
        }, indent=1) + "\n")
    baseline: dict[str, str] = json.loads(BASELINE.read_text())["verdicts"]
    lost = sorted(case for case, verdict in baseline.items() if verdict == "pass" and current.get(case) != "pass")
    assert not lost, (
        f"{len(lost)} case(s) passed in {BASELINE.name} and do not pass now: {lost}. "
        f"Run `replydesk eval run {' '.join(SUITES)}` and `replydesk eval report latest` to see why."
    )
    missing = sorted(set(baseline) - set(current))
    assert not missing, f"cases in {BASELINE.name} that no suite has any more: {missing} (update the baseline)"
