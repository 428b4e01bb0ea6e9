"""Dependencies declared (issue 13, item 9).

OWASP API8:2023 Security misconfiguration — every module the code imports is a dependency pyproject.toml
declares (with a lower bound), never one that happens to be installed: deptry proves it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_is_declared() -> None:
    deptry = shutil.which("deptry", path=str(Path(sys.executable).parent))
    if deptry is None:
        pytest.fail("deptry is not installed: pip install -e '.[dev]'")
    result = subprocess.run([deptry, "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
