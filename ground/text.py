"""Sentences: the one splitter the composer, the claim checker and the chunker share.

A regex, on purpose: what we split is Markdown-ish knowledge (lists, **bold.** labels, quoted replies)
and drafts made from it. General segmenters read that worse — sentencex, tried on our sample knowledge,
cut "**Warm.** Use …" after "Warm.", merged the sentences of a quoted holding reply into one claim and
broke a heading from its paragraph; pysbd has had no release since 2021 — and the grounding check wants
the small units this rule gives: every sentence end (. ! ? then whitespace) is a boundary.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SENTENCE_END_OR_LINE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str, *, line_breaks: bool = False) -> list[str]:
    """The sentences of ``text`` in order, stripped, empty ones dropped.

    ``line_breaks``: a line break ends a sentence too (list items and the lines of a chat message often
    carry no final punctuation).
    """
    pattern = _SENTENCE_END_OR_LINE_BREAK if line_breaks else _SENTENCE_END
    return [s.strip() for s in pattern.split(text.strip()) if s.strip()]
