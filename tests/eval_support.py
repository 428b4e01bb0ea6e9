"""Helpers for eval tests: settings whose eval knowledge base is a copy of the session's sample KB."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from evals.kb import EvalKnowledge
from ground.settings import Settings
from testkit.live import SAMPLES, make_settings


def seed_eval_kb(settings: Settings, sample_chroma: Path) -> None:
    """Evals embed a suite's knowledge once per content hash; the sample KB is already embedded."""
    knowledge = EvalKnowledge.load([SAMPLES / "knowledge", SAMPLES / "guidelines"])
    target = settings.data_dir / "evals" / "kb" / knowledge.hash
    if not target.exists():
        shutil.copytree(sample_chroma, target)


def eval_settings(tmp_path: Path, sample_chroma: Path, **overrides: Any) -> Settings:
    settings = make_settings(tmp_path, **overrides)
    seed_eval_kb(settings, sample_chroma)
    return settings
