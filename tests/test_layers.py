"""The import contract (pyproject's [tool.importlinter]): ground <- knowledge <- agent <- desk <- {evals,
insights, connectors} <- console <- api <- cli, nothing outside tests/ imports tests/, and no web
framework below the API.

The second test proves the check bites: a copy of the tree with one import that runs back up must fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from testkit.live import ROOT

LINT = Path(sys.executable).parent / "lint-imports"
PACKAGES = (
    "ground", "knowledge", "agent", "desk", "evals", "insights", "connectors", "console", "api", "replydesk",
    "testkit", "bench", "tests",
)


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


def test_imports_follow_the_layers() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_an_import_that_runs_back_up_breaks_the_contract(tmp_path: Path) -> None:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.onnx", "*.npy"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    models = tmp_path / "desk" / "models.py"
    models.write_text(models.read_text() + "\nimport api.errors  # noqa: E402,F401  (runs back up)\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "desk.models -> api.errors" in result.stdout
    assert "1 broken" in result.stdout
