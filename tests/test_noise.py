"""The noisy dev set's garbler: seeded, transcript-like, and it really garbles."""

from __future__ import annotations

import re

from evals.noise import garble
from knowledge.spoken import SoundRanker, clean_query, sound_string

TURNS = [
    "I'm looking for a 4 star hotel in the north, with free WiFi.",
    "Yes, the Hobsons House has 3 stars. Would you like me to make a reservation for you?",
    "Could you confirm that Maharajah Tandoori Restaurant has outdoor seating?",
    "Do they accept Mastercard, and is housekeeping provided every day?",
] * 10


def test_same_seed_same_transcript_other_seed_other_transcript() -> None:
    assert [garble(t, 3) for t in TURNS] == [garble(t, 3) for t in TURNS]
    assert [garble(t, 3) for t in TURNS[:4]] != [garble(t, 4) for t in TURNS[:4]]


def test_transcripts_look_spoken() -> None:
    out = [garble(t, seed) for seed in range(5) for t in TURNS[:4]]
    assert all(o == o.lower() and not re.search(r"[.,?!]", o) for o in out)
    words = " ".join(out).split()
    assert {"umm", "uh", "um", "like", "so", "well"} & set(words)  # fillers
    assert "four" in words and "4" not in words  # numbers are spoken
    originals = set(" ".join(TURNS).lower().replace("'", "").split())
    assert sum(w not in originals for w in words) > len(words) * 0.05  # substitutions, splits, merges


def test_clean_query_drops_hesitations_only() -> None:
    assert clean_query("umm do they uh you know have outdoor seating") == "do they have outdoor seating"
    assert clean_query("I would like a table") == "I would like a table"
    assert clean_query("umm") == "umm"


def test_sound_ranker_finds_garbled_questions() -> None:
    faqs = ["Do you have outdoor seating?", "Do you accept credit cards like Mastercard?",
            "Is housekeeping provided daily?", "Is there free wifi?", "Can I bring my dog?"]
    ranker = SoundRanker(faqs)
    assert sound_string("house keeping") == sound_string("housekeeping")
    for garbled, expected in [("do they have al dor city", 0), ("can i pay with master card", 1),
                              ("is there house keeping", 2), ("is their free wavy", 3)]:
        assert faqs[int(ranker.scores(garbled).argmax())] == faqs[expected], garbled
