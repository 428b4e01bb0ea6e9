"""What a run ran: git commit, the drafting prompt (default or an override file) and its hash."""

from __future__ import annotations

import hashlib
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from agent.prompts import DRAFT_SYSTEM, DRAFT_USER, template_hash
from evals.errors import EvalError
from evals.suites import ROOT


def git_state(cwd: Path = ROOT) -> tuple[str | None, bool]:
    """(commit, dirty); (None, False) outside a git checkout — recorded as such, not guessed."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, False
    return commit or None, bool(status.strip())


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class DraftPrompt:
    system: str
    user: str
    source: str  # "default" or the override file
    hash: str

    @property
    def override(self) -> tuple[str, str] | None:
        return None if self.source == "default" else (self.system, self.user)


def load_prompt(path: Path | None) -> DraftPrompt:
    """The agent's prompt, or an override file: YAML with ``system`` (required) and ``user`` (optional;
    placeholders must be ones the agent fills, e.g. {text} and {sources})."""
    if path is None:
        return DraftPrompt(DRAFT_SYSTEM, DRAFT_USER, "default", template_hash())
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise EvalError(f"{path}: cannot read the prompt file: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("system"), str) or not data["system"].strip():
        raise EvalError(f"{path}: expected a mapping with a non-empty 'system' string (and optionally 'user')")
    user = data.get("user", DRAFT_USER)
    if not isinstance(user, str):
        raise EvalError(f"{path}: 'user' must be a string template")
    try:
        unknown = _fields(user) - _fields(DRAFT_USER)
    except ValueError as exc:
        raise EvalError(f"{path}: 'user' is not a valid template: {exc}") from exc
    if unknown:
        raise EvalError(f"{path}: 'user' uses placeholders the agent does not fill: {sorted(unknown)} "
                        f"(available: {sorted(_fields(DRAFT_USER))})")
    digest = hashlib.sha256((data["system"] + user).encode()).hexdigest()[:16]
    return DraftPrompt(data["system"], user, str(path), digest)
