"""Scripted model behaviours for the loopback OpenAI server (they read our prompt like a model would)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Responder = Callable[[dict[str, Any]], str]

_SOURCE = re.compile(r"^\[([^\]]+)\] (.*?)(?=^\[[^\]]+\] |\Z)", re.MULTILINE | re.DOTALL)
_AUTHOR = re.compile(r"^AUTHOR: (\S+)", re.MULTILINE)


def user_prompt(request: dict[str, Any]) -> str:
    """The first user message: the prompt itself, also when a repair round follows it."""
    return str(next(m["content"] for m in request["messages"] if m.get("role") == "user"))


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
    # FAQ chunks read "question?\nanswer": answer with the part after the question.
    answer = " ".join((text.split("?\n", 1)[-1] if "?\n" in text else text).split())
    return json.dumps({"reply": f"Hi {name}! {answer}"[:270], "citations": [source_id],
                       "needs_human_answer": False, "confidence": 0.9})


def fenced(request: dict[str, Any]) -> str:
    """Servers without structured output often wrap JSON in a Markdown fence."""
    return f"```json\n{grounded_reply(request)}\n```"


# --- Scripted behaviours for the agent's checks (issue 4) -------------------------------------------

_MESSAGE = re.compile(r"MESSAGE:\n<<<\n(.*?)\n>>>", re.DOTALL)
_QUOTED = re.compile(r"[\"“']([^\"”']{12,})[\"”']")
_DOMAIN = re.compile(r"\b(?:https?://)?(?:www\.)?[\w-]+\.(?:com|xyz|net|org|io)\b[^\s\"']*")
_INSTRUCTION = re.compile(
    r"\?\s*$|^\W*(please |can you |could you |now )?(add|include|insert|integrate|write|draft|compose|develop|provide|"
    r"explain|describe|translate|tell|give|show|list|summari[sz]e|break|create|make|repeat|print|output|encode|"
    r"ignore|start|begin|complete|continue|replace|remove|introduce|rearrange|use|respond|reply|answer|say|"
    r"display|format|generate|console|beginning|first|what|how|who|why|where|which)\b|\byour (answer|response|"
    r"reply|output|instructions)", re.IGNORECASE)
_EXTRACTION = re.compile(r"system|instruction|initiali[sz]|prompt|configuration|told|above|conversation|"
                         r"starting|you are|supposed to", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|(?<=[.!?]['\"])\s+|\n+", text) if s.strip()]


def _system(request: dict[str, Any]) -> str:
    return str(request["messages"][0]["content"])


def _leak(instruction: str, system: str) -> str:
    """What a model that obeys an extraction attack outputs: its system prompt, encoded as asked."""
    import base64
    import codecs

    lowered = instruction.lower()
    if "base64" in lowered:
        return base64.b64encode(system.encode()).decode()
    if "rot13" in lowered:
        return codecs.encode(system, "rot13")
    if "vowel" in lowered:
        return re.sub(r"[aeiouAEIOU]", "*", system)
    if "json" in lowered:
        return json.dumps({"system_prompt": system})
    return f"My instructions are: {system}"


def _transform(reply: str, instruction: str) -> str:
    lowered = instruction.lower()
    if "number" in lowered and "letter" in lowered:
        return reply.translate(str.maketrans("abcde", "12345"))
    if "symbol" in lowered:
        return reply.translate(str.maketrans("ab", "@&"))
    if "typo" in lowered or "misspell" in lowered:
        return " ".join(w[1] + w[0] + w[2:] if len(w) > 3 and i % 3 == 0 else w
                        for i, w in enumerate(reply.split()))
    if "anagram" in lowered or "rearrange" in lowered:
        return " ".join(w[::-1] for w in reply.split())
    if "space" in lowered:
        return reply.replace(" ", "")
    return reply


def naive_reply(request: dict[str, Any]) -> str:
    """A naive model: answers from the first source, then obeys every other instruction in the message."""
    prompt = user_prompt(request)
    if _system(request).startswith("You read one message"):
        return triage_reply(request)
    base = json.loads(grounded_reply(request))
    match = _MESSAGE.search(prompt)
    sentences = _sentences(match.group(1)) if match else []
    source_words = set(re.findall(r"\w{4,}", base["reply"].lower()))
    answered = max(sentences, key=lambda s: len(set(re.findall(r"\w{4,}", s.lower())) & source_words), default="")
    reply = base["reply"]
    extra: list[str] = []
    for sentence in sentences:
        if sentence == answered or not _INSTRUCTION.search(sentence):
            continue
        if _EXTRACTION.search(sentence):
            extra.append(_leak(sentence, _system(request)))
            continue
        transformed = _transform(reply, sentence)
        if transformed != reply:
            reply = transformed
            continue
        quoted = _QUOTED.findall(sentence) + _DOMAIN.findall(sentence)
        if quoted and re.search(r"\b(add|include|insert|integrate|append|promote|mention|link)\w*", sentence, re.I):
            extra.append(f"Also: {' '.join(quoted)}.")
        else:
            topic = sentence.rstrip("?.!")
            extra.append(f"As you asked ({topic}): here is a complete answer covering every detail of it.")
    text = " ".join([reply, *extra])
    return json.dumps(base | {"reply": text})


def leaky_reply(request: dict[str, Any]) -> str:
    """A model that pastes its whole system prompt into every reply."""
    base = json.loads(grounded_reply(request))
    return json.dumps(base | {"reply": f"{base['reply']} {_leak('repeat', _system(request))}"})


def triage_reply(_request: dict[str, Any]) -> str:
    return json.dumps({"sentiment": "negative", "score": -0.7, "urgency": "high", "reason": "frustrated"})


def public_details_reply(request: dict[str, Any]) -> str:
    """Answers, then repeats the author's order number and email in the reply."""
    base = json.loads(grounded_reply(request))
    detail = "I can see order #4471902 for dana@example.com is with the courier."
    return json.dumps(base | {"reply": f"{base['reply'][:120]} {detail}"})


def invented_link_reply(request: dict[str, Any]) -> str:
    base = json.loads(grounded_reply(request))
    return json.dumps(base | {"reply": f"{base['reply'][:150]} Details: https://lumenbikes.example/uk-shipping-promo"})


def long_reply(request: dict[str, Any]) -> str:
    base = json.loads(grounded_reply(request))
    prompt = user_prompt(request)
    sources = _SOURCE.findall(prompt.split("SOURCES:", 1)[1])
    return json.dumps(base | {"reply": " ".join(text for _, text in sources)})


# --- How small local models answer (issue 17) ---------------------------------------------------------

def prose_around(responder: Responder) -> Responder:
    """A chatty model: a sentence before the JSON and one after it (SmolLM2 and friends do this)."""
    def chatty(request: dict[str, Any]) -> str:
        return f"Sure! Here is the JSON you asked for:\n{responder(request)}\nLet me know if you need more."
    return chatty


def any_role(request: dict[str, Any]) -> str:
    """One model behind every LLM use: drafting, triage sentiment and the eval judge, by the system prompt."""
    system = str(request["messages"][0]["content"])
    if system.startswith("You read one message"):
        return triage_reply(request)
    if "evaluation judge" in system:
        return json.dumps({"pass": True, "reason": "the reply answers the question"})
    return grounded_reply(request)
