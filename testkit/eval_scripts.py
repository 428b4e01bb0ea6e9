"""Scripted model behaviours for eval tests and benchmarks (they read the prompts as a model would).

- ``rule_following_drafter``: grounded when the system prompt tells it to use only the sources; when a
  degraded prompt drops that rule, it answers confidently from nowhere (no citation, invented facts).
- ``checklist_judge``: answers the judge's yes/no question by looking at the reply (name used, no
  emoji, numbers present in the sources); every other question passes.
- ``eval_model``: one endpoint for both roles, told apart by the judge's system prompt.
"""

from __future__ import annotations

import json
import re
from typing import Any

from testkit.llm_scripts import user_prompt

GROUNDING_RULE = "Use ONLY facts stated in the SOURCES"
JUDGE_MARKER = "evaluation judge"
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
_NAME_ITEM = re.compile(r"by name \(([^)]+)\)")
_SOURCE_START = re.compile(r"^\[([^\]\s]+)\] ", re.MULTILINE)
_LIMIT = re.compile(r"at most (\d+) characters")
_AUTHOR = re.compile(r"^AUTHOR: (\S+)", re.MULTILINE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")

DEGRADED_PROMPT = """\
system: |
  You write replies for a brand. Be upbeat and always give a confident, specific answer.
  Answer with JSON only: {"reply": str, "citations": [source ids], "needs_human_answer": bool,
  "confidence": number between 0 and 1}.
"""


def _system(request: dict[str, Any]) -> str:
    return str(request["messages"][0]["content"])


def grounded_drafter(request: dict[str, Any]) -> str:
    """Answers from the first source (its answer part, whole sentences within the platform limit)."""
    prompt = user_prompt(request)
    sources = prompt.split("SOURCES:\n", 1)[1]
    starts = list(_SOURCE_START.finditer(sources))
    author = _AUTHOR.search(prompt)
    greeting = f"Hi {author.group(1) if author else 'there'}!"
    if not starts:
        return json.dumps({"reply": f"{greeting} We'll check with the team and get back to you.", "citations": [],
                           "needs_human_answer": True, "confidence": 0.1})
    first = starts[0]
    end = starts[1].start() if len(starts) > 1 else len(sources)
    body = sources[first.end():end].strip()
    answer = body.split("\n", 1)[1] if "\n" in body else body
    limit = int(_LIMIT.search(prompt).group(1)) if _LIMIT.search(prompt) else 1000  # type: ignore[union-attr]
    reply = greeting
    for sentence in _SENTENCE.split(answer.strip()):
        if len(reply) + 1 + len(sentence) > limit:
            break
        reply = f"{reply} {sentence}"
    return json.dumps({"reply": reply, "citations": [first.group(1)], "needs_human_answer": False,
                       "confidence": 0.9})


def rule_following_drafter(request: dict[str, Any]) -> str:
    if GROUNDING_RULE in _system(request):
        return grounded_drafter(request)
    return json.dumps({"reply": "Hi there! Great news: it ships free and arrives in 2 days, guaranteed!",
                       "citations": [], "needs_human_answer": False, "confidence": 0.95})


def _section(prompt: str, name: str, following: str) -> str:
    return prompt.split(f"{name}:\n", 1)[-1].split(f"\n\n{following}:", 1)[0]


def checklist_judge(request: dict[str, Any]) -> str:
    prompt = user_prompt(request)
    question = prompt.split("\n", 1)[0]
    reply = prompt.split("REPLY:\n", 1)[-1]
    verdict, reason = True, "looks fine"
    name = _NAME_ITEM.search(question)
    if name:
        verdict, reason = name.group(1).lower() in reply.lower(), f"looked for {name.group(1)}"
    elif "emoji" in question:
        verdict, reason = not _EMOJI.search(reply), "emoji check"
    elif "supported by the SOURCES" in question:
        sources = _section(prompt, "SOURCES", "GUIDELINES")
        unsupported = [n for n in _NUMBER.findall(reply) if n not in sources]
        verdict, reason = not unsupported, f"unsupported numbers {unsupported}" if unsupported else "all supported"
    return json.dumps({"pass": verdict, "reason": reason})


def eval_model(request: dict[str, Any]) -> str:
    if JUDGE_MARKER in _system(request):
        return checklist_judge(request)
    return rule_following_drafter(request)
