"""Broken words mended against the knowledge's own vocabulary, and retrieval that uses the mended text."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ground.settings import Settings
from knowledge.entities import tokens
from knowledge.ingest import ingest_paths
from knowledge.respell import Respeller
from knowledge.search import retrieve
from knowledge.store import KnowledgeStore

FAQS = [
    ("Is the internet connection reliable?", "Yes, fibre internet with wifi in every room."),
    ("Is wifi free?", "Wifi and wired internet are free for guests."),
    ("Can I work from my room?", "Every room has a desk, wifi and fast internet."),
    ("Is breakfast included?", "Breakfast is served from 7 to 10 and is included."),
    ("Do you serve breakfast early?", "Early breakfast from 6 on request."),
    ("Is there a breakfast for vegans?", "A vegan breakfast is on the menu."),
    ("Is parking available?", "Free parking behind the hotel."),
    ("Can I reserve parking?", "Parking cannot be reserved; there is always room."),
    ("Is there parking for coaches?", "No coach parking on site."),
    ("Do you serve beer?", "We serve local beer and wine at the bar."),
    ("Is there a beer garden?", "Yes, the beer garden opens in summer."),
    ("Do you have craft beer?", "Three craft beer taps at the bar."),
]


def _respeller() -> Respeller:
    df: Counter[str] = Counter()
    for question, answer in FAQS:
        df.update(set(tokens(f"{question} {answer}")))
    return Respeller(df)


def test_split_and_merged_words_are_mended() -> None:
    speller = _respeller()
    assert speller.respell("is the int ernet reliable") == "is internet reliable"
    assert speller.respell("umm is theinternet free") == "is the internet free"
    assert speller.respell("is break fast included") == "is breakfast included"


def test_words_the_knowledge_never_uses_become_sound_alikes_it_does() -> None:
    speller = _respeller()
    assert speller.respell("is the interned connection reliable") == "is internet connection reliable"
    assert speller.respell("do you serve beeer") == "do you serve beer"  # a non-word: a looser spelling
    assert speller.respell("do you serve bury") == "do you serve bury"  # an everyday word: spelt too unlike


def test_a_name_the_model_knows_is_not_respelled() -> None:
    """'Sam' signs the message: a name, not a misspelt 'same' (which this knowledge uses a lot)."""
    speller = Respeller(Counter({"same": 9, "day": 9, "delivery": 9, "cargo": 9}))
    assert speller.respell("is there same day delivery? thanks! - Sam") == "is there same day delivery thanks sam"
    assert speller.respell("same day delivery for the Cargoo?") == "same day delivery for cargo"
    assert speller.respell("sam day delivery?") == "same day delivery"  # lower case: a word, mended


def test_a_clean_message_comes_back_as_it_was() -> None:
    speller = _respeller()
    for text in ["Is the internet connection reliable?", "Can I reserve parking for 2 cars?",
                 "Do you serve breakfast early?"]:
        assert speller.respell(text) == " ".join(tokens(text))
    assert speller.respell("is it quiet at night") == "is it quiet at night"  # nothing to sound like


def test_retrieval_finds_the_faq_a_garbled_question_means(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "faq.jsonl").write_text("\n".join(
        json.dumps({"id": f"faq-{i}", "question": q, "answer": a}) for i, (q, a) in enumerate(FAQS)) + "\n")
    store = KnowledgeStore(settings)
    ingest_paths(store, [folder], "inn")
    found = retrieve(store, "uh is the int ernet con nection there reliable", "inn", k=3)
    assert found.hits[0].id == "faq-0"
    assert "respelled-dense" in found.hits[0].retrievers
    clean = retrieve(store, "Is the internet connection reliable?", "inn", k=3)
    assert clean.hits[0].id == "faq-0"
    assert not any(r.startswith("respelled") for h in clean.hits for r in h.retrievers)
