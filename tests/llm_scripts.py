"""Scripted model behaviours for the loopback OpenAI server (they read our prompt like a model would)."""

from __future__ import annotations

import json
import re
from typing import Any

_SOURCE = re.compile(r"^\[([^\]]+)\] (.*)$", re.MULTILINE)
_AUTHOR = re.compile(r"^AUTHOR: (\S+)", re.MULTILINE)


def user_prompt(request: dict[str, Any]) -> str:
    return str(request["messages"][-1]["content"])


def grounded_reply(request: dict[str, Any]) -> str:
    """A well-behaved model: greets the author and answers from the first source, citing it."""
    prompt = user_prompt(request)
    sources = _SOURCE.findall(prompt.split("SOURCES:", 1)[1])
    author = _AUTHOR.search(prompt)
    name = author.group(1) if author else "there"
    if not sources:
        return json.dumps({"reply": f"Hi {name}, we'll check and get back to you.", "citations": [],
                           "needs_human_answer": True, "confidence": 0.1})
    source_id, text = sources[0]
    answer = text.split("?", 1)[-1].strip() or text
    return json.dumps({"reply": f"Hi {name}! {answer}"[:270], "citations": [source_id],
                       "needs_human_answer": False, "confidence": 0.9})


def fenced(request: dict[str, Any]) -> str:
    """Servers without structured output often wrap JSON in a Markdown fence."""
    return f"```json\n{grounded_reply(request)}\n```"
