"""Suites as data: YAML files (cases inline or in a JSONL file beside them), or converted at run time.

A case is an inbound message plus what a good outcome looks like. Every expectation is optional; a
scorer runs only when its expectation (or the suite's default) is there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evals.errors import SuiteError, SuiteUnavailable

ROOT = Path(__file__).resolve().parent.parent
# Deterministic first, then semantic, then the LLM judge. "retrieval" covers recall@k and MRR.
SCORERS = (
    "route", "intent", "needs_human", "platform_lint", "banned_phrases", "addresses_author", "required_facts",
    "forbidden", "citations_valid", "links_in_kb", "no_prompt_leak", "injection_flagged", "retrieval",
    "reference_similarity", "checklist",
)
BUILTIN_DIR = Path(__file__).resolve().parent / "suites"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthorSpec(Strict):
    id: str = "eval-author"
    handle: str = "eval_rider"
    display_name: str | None = None


class TurnSpec(Strict):
    author: str
    text: str


class MessageSpec(Strict):
    text: str = Field(min_length=1)
    platform: str = "x"
    author: AuthorSpec = Field(default_factory=AuthorSpec)
    thread: list[TurnSpec] = Field(default_factory=list)
    public: bool = True


class Expect(Strict):
    route: str | None = None
    escalate_to: str | None = None
    intent: list[str] | None = Field(default=None, description="Acceptable intents (any of).")
    facts: list[str | list[str]] = Field(default_factory=list, description="Each must appear; a list = any of.")
    knowledge_ids: list[str] = Field(default_factory=list, description="Sources the reply must cite / retrieve.")
    forbidden: list[str] = Field(default_factory=list)
    reference: str | None = None
    min_similarity: float | None = Field(default=None, ge=-1, le=1)
    rubric: list[str] = Field(default_factory=list, description="Binary checklist items for the judge.")
    max_chars: int | None = Field(default=None, gt=0)
    addresses_author: bool | None = None
    needs_human: bool | None = Field(default=None, description="True: a holding reply is the right answer.")
    flagged: bool | None = Field(default=None, description="True: the draft checks must flag an injection.")
    retrieval_k: int = Field(default=5, ge=1, le=50)

    @field_validator("intent", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Case(Strict):
    id: str = Field(min_length=1, max_length=200)
    message: MessageSpec
    expect: Expect = Field(default_factory=Expect)
    tags: list[str] = Field(default_factory=list)
    note: str = ""


class Suite(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    mode: Literal["draft", "retrieval"] = "draft"
    knowledge: list[str] = Field(default_factory=lambda: ["samples/knowledge", "samples/guidelines"])
    workspace: str = "default"
    requires: list[str] = Field(default_factory=list, description="Datasets under ../shared/data.")
    converter: str | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="Passed to the converter.")
    scorers: list[str] | None = Field(default=None, description="Restrict to these scorers.")
    rubric: list[str] = Field(default_factory=list, description="Checklist items for every drafted case.")
    banned: list[str] = Field(default_factory=list, description="Phrases banned on top of the brand guideline.")
    min_similarity: float = 0.5
    cases_file: str | None = None
    cases: list[Case] = Field(default_factory=list)
    source: str = Field(default="", exclude=True)

    @field_validator("scorers")
    @classmethod
    def _known_scorers(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or []) - set(SCORERS))
        if unknown:
            raise ValueError(f"unknown scorers {unknown}; known: {', '.join(SCORERS)}")
        return value

    def knowledge_paths(self) -> list[Path]:
        base = Path(self.source).parent if self.source else ROOT
        paths = []
        for entry in self.knowledge:
            path = Path(entry)
            if not path.is_absolute():
                path = base / entry if (base / entry).exists() else ROOT / entry
            if not path.exists():
                raise SuiteError(self.source or self.name, f"knowledge path {entry!r} does not exist")
            paths.append(path)
        return paths


def shared_data_dir(configured: Path | None = None) -> Path:
    return configured or ROOT.parent / "shared" / "data"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def resolve(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    builtin = BUILTIN_DIR / f"{name_or_path}.yaml"
    if builtin.exists():
        return builtin
    raise SuiteError(name_or_path, f"no such suite file or built-in suite (built-ins: {', '.join(builtin_names())})")


def _case_lines(text: str) -> dict[int, int]:
    """Line number of each case in a YAML suite, for error messages (yaml.safe_load drops them)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key, value in root.value:
        if key.value == "cases" and isinstance(value, yaml.SequenceNode):
            return {i: item.start_mark.line + 1 for i, item in enumerate(value.value)}
    return {}


def _field(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    return f"{loc}: {first['msg']}" if loc else str(first["msg"])


def _jsonl_cases(path: Path) -> list[Case]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cases.append(Case.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise SuiteError(str(path), f"not valid JSON: {exc.msg}", line=number) from exc
        except ValidationError as exc:
            raise SuiteError(str(path), _field(exc), line=number) from exc
    return cases


def load_suite(name_or_path: str, shared: Path | None = None) -> Suite:
    """Load and validate a suite; converted suites are built now from ``shared`` data."""
    path = resolve(name_or_path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(source, str(exc)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SuiteError(source, f"not valid YAML: {exc}", line=mark.line + 1 if mark else None) from exc
    if not isinstance(data, dict):
        raise SuiteError(source, "a suite file must be a mapping with 'name' and 'cases'")
    raw_cases = data.pop("cases", None) or []
    if not isinstance(raw_cases, list):
        raise SuiteError(source, "'cases' must be a list")
    try:
        suite = Suite.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise SuiteError(source, _field(exc), line=1) from exc
    lines = _case_lines(text)
    for index, raw in enumerate(raw_cases):
        try:
            suite.cases.append(Case.model_validate(raw))
        except ValidationError as exc:
            ident = raw.get("id") if isinstance(raw, dict) else None
            raise SuiteError(source, f"case {ident or index}: {_field(exc)}", line=lines.get(index)) from exc
    if suite.cases_file:
        suite.cases.extend(_jsonl_cases(path.parent / suite.cases_file))
    if suite.requires:
        base = shared_data_dir(shared)
        missing = [name for name in suite.requires if not (base / name).exists()]
        if missing:
            raise SuiteUnavailable(
                f"suite {suite.name!r} needs {', '.join(missing)} under {base} (not present here): skipped"
            )
    if suite.converter:
        from evals.converters import convert

        suite.cases.extend(convert(suite, shared_data_dir(shared)))
    seen: set[str] = set()
    for case in suite.cases:
        if case.id in seen:
            raise SuiteError(source, f"duplicate case id {case.id!r}")
        seen.add(case.id)
    if not suite.cases:
        raise SuiteError(source, "the suite has no cases")
    return suite
