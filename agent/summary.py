"""Extractive thread summary (offline): what the author wants, what was said, what is still open.

Sentences are picked, never written: the request-like sentence of the message, the last turns of the
thread, and the author's questions that the draft does not address. With an LLM the drafting call writes
the summary instead (agent/llm.py); this is the offline mode and the fallback.
"""

from __future__ import annotations

import re

from agent.claims import split_sentences
from agent.relevance import GREETING
from agent.state import DraftResult, InboundMessage, ThreadSummary
from knowledge.embeddings import embed_cached

_REQUEST = re.compile(
    r"\?|\b(can|could|would|will) (you|i|we)\b|\b(please|pls|plz|need|want|looking for|how (do|can|long|much)|"
    r"where|when|why|what|which|is there|do you|does it|help)\b", re.I)
_ANSWERED = 0.45


def _salutation(sentence: str) -> bool:
    """A reply's "Hi rider10!" or "Hello there, Sam": it answers nothing, and its name is new in every draft,
    so scoring it cost one more embedding per message."""
    rest = GREETING.sub("", sentence, count=1)
    return rest != sentence and len(re.findall(r"\w+", rest)) <= 2


def _clip(text: str, size: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1].rstrip() + "…"


def extractive_summary(message: InboundMessage, draft: DraftResult | None) -> ThreadSummary:
    sentences = split_sentences(message.text) or [message.text]
    requests = [s for s in sentences if _REQUEST.search(s)]
    wants = f"{message.author.name}: {_clip(requests[0] if requests else sentences[0])}"
    said_parts = [f"{t.author}: {_clip(t.text, 100)}" for t in message.thread[-3:]]
    if message.author_history:
        said_parts.append(
            f"{len(message.author_history)} earlier message(s) from {message.author.name}, latest: "
            f"{_clip(message.author_history[-1], 100)}"
        )
    said = " | ".join(said_parts) or "No earlier messages in this thread."
    questions = [s for s in sentences if s.rstrip().endswith("?")]
    if draft is None or draft.needs_human_answer or not draft.text.strip():
        open_questions = questions
    elif questions:
        # Against the draft's sentences (the best one counts), not the whole draft: the claim check
        # embeds the same sentences, and a question is answered by a sentence, whatever surrounds it.
        replies = [s for s in split_sentences(draft.text) if not _salutation(s)] or [draft.text]
        vectors = embed_cached([*replies, *questions])
        scores = (vectors[len(replies):] @ vectors[: len(replies)].T).max(axis=1)
        open_questions = [q for q, s in zip(questions, scores, strict=True) if s < _ANSWERED]
    else:
        open_questions = []
    return ThreadSummary(wants=wants, said=said, open_questions=[_clip(q) for q in open_questions])
