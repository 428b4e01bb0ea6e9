"""Inbound texts for the drafting benchmarks: every message new, like real traffic.

Six questions the sample brand's knowledge answers, each worded afresh per message (an opening, a
closing, a sign-off; 5,880 distinct texts), each drafted in one LLM call as the loop's ideal assumes (a
complaint such as "it rattles" draws a revision, a second call). The knowledge side recurs from message
to message (the same FAQ answers, guidelines, sources), the message side never does, so per-message work
(the message's own embedding, its asked parts, the draft's sentences) is paid for every message, as it is
in production. Repeating six exact texts instead hid 90 ms per message of uncached work behind caches.
"""

from __future__ import annotations

QUESTIONS = [
    "how long does shipping to the UK take?",
    "what's your return window?",
    "how much weight can the Cargo carry?",
    "is there a student discount?",
    "can I store the battery in my garage over winter?",
    "how do I pair the app?",
]
OPENINGS = ["hey", "hi there,", "quick one:", "hello team,", "morning!", "hiya,", "question -"]
CLOSINGS = ["thanks!", "cheers", "thx in advance", "pls help", "asking for a friend", "ty", "love the bike btw"]
NAMES = ["Sam", "Priya", "Jo", "Marco", "Aisha", "Tom", "Lena", "Kofi", "Mei", "Dan",
         "Ines", "Olek", "Ravi", "Nora", "Felix", "Yuki", "Ben", "Sara", "Theo", "Amara"]
DISTINCT = len(QUESTIONS) * len(OPENINGS) * len(CLOSINGS) * len(NAMES)


def text(i: int) -> str:
    """The i-th message's text: no two of ``DISTINCT`` consecutive numbers give the same text. (No order
    numbers or the like: a customer's data posted publicly is routed to moderation, not drafted.)"""
    step = len(QUESTIONS) * len(OPENINGS)  # 6 and 7 are coprime: i % 42 fixes both
    return (f"{OPENINGS[i % len(OPENINGS)]} {QUESTIONS[i % len(QUESTIONS)]} "
            f"{CLOSINGS[(i // step) % len(CLOSINGS)]} - {NAMES[(i // (step * len(CLOSINGS))) % len(NAMES)]}")
