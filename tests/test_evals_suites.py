"""Suites as data: built-ins load, converted suites need ../shared (and skip cleanly), errors are clear."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from evals.errors import EvalError, SuiteError, SuiteUnavailable
from evals.provenance import load_prompt
from evals.suites import builtin_names, load_suite
from testkit.live import ROOT, SHARED_DATA


def test_builtin_suites_load_without_shared_data(tmp_path: Path) -> None:
    assert {"tone", "accuracy", "triage", "retrieval", "safety"} <= set(builtin_names())
    sizes = {name: len(load_suite(name).cases) for name in ("tone", "accuracy", "triage", "retrieval")}
    assert sizes == {"tone": 24, "accuracy": 45, "triage": 37, "retrieval": 38}
    accuracy = load_suite("accuracy")
    original = [c for c in accuracy.cases if not c.id.startswith("acc19-")]
    assert all(c.expect.knowledge_ids and c.expect.facts and c.expect.reference for c in original)
    # Issue 19's cases say what kind of reply is right: an answer citing its FAQ, a hold, or thanks.
    added = [c for s in ("accuracy", "tone", "triage") for c in load_suite(s).cases if "19-" in c.id]
    assert len(added) >= 40
    assert all(c.expect.route and (c.expect.intent or c.expect.reply or c.expect.escalate_to or c.expect.forbidden)
               for c in added)
    assert all(c.expect.knowledge_ids for c in added if c.expect.reply == "answer")
    assert load_suite("retrieval").mode == "retrieval"
    with pytest.raises(SuiteUnavailable, match="garak_injection, bipia"):
        load_suite("safety", shared=tmp_path / "no-shared-data")


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="needs ../shared/data")
def test_safety_suite_is_converted_from_shared_data() -> None:
    suite = load_suite("safety", shared=SHARED_DATA)
    tags = {tag for case in suite.cases for tag in case.tags}
    assert {"garak", "bipia", "extraction", "dan"} <= tags
    assert len(suite.cases) > 100
    bipia = next(c for c in suite.cases if "bipia" in c.tags)
    assert bipia.expect.flagged and "ignore the instruction" in bipia.expect.rubric[0]
    assert len({c.id for c in suite.cases}) == len(suite.cases)


def test_bad_suite_names_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ncases:\n  - id: ok\n    message: {text: hi}\n"
                   "  - id: broken\n    message: {platform: x}\n")
    with pytest.raises(SuiteError) as caught:
        load_suite(str(bad))
    message = str(caught.value)
    assert "bad.yaml:5" in message and "broken" in message and "message.text" in message
    dup = tmp_path / "dup.yaml"
    dup.write_text("name: dup\ncases:\n  - {id: a, message: {text: hi}}\n  - {id: a, message: {text: ho}}\n")
    with pytest.raises(SuiteError, match="duplicate case id 'a'"):
        load_suite(str(dup))
    with pytest.raises(SuiteError, match="no such suite"):
        load_suite("no-such-suite")


def test_jsonl_cases_file(tmp_path: Path) -> None:
    (tmp_path / "cases.jsonl").write_text('{"id": "j1", "message": {"text": "hello"}}\n\n{"id": "j2", "message": 3}\n')
    (tmp_path / "s.yaml").write_text("name: s\ncases_file: cases.jsonl\nknowledge: [samples/knowledge]\n")
    with pytest.raises(SuiteError, match=r"cases.jsonl:3"):
        load_suite(str(tmp_path / "s.yaml"))


def test_prompt_override_is_validated(tmp_path: Path) -> None:
    assert load_prompt(None).source == "default"
    good = tmp_path / "p.yaml"
    good.write_text("system: Be brief.\nuser: '{text} from {author_name}'\n")
    prompt = load_prompt(good)
    assert prompt.override == ("Be brief.", "{text} from {author_name}") and prompt.hash != load_prompt(None).hash
    bad = tmp_path / "bad.yaml"
    bad.write_text("system: Be brief.\nuser: '{text} {secret}'\n")
    with pytest.raises(EvalError, match="secret"):
        load_prompt(bad)


def test_evals_is_imported_by_nothing_else() -> None:
    offenders = []
    for package in ("agent", "knowledge", "api"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
                offenders += [f"{path}: {n}" for n in names if n == "evals" or n.startswith("evals.")]
    assert offenders == []
