"""Entity resolution in a thread: the most recent mention wins, loose spellings still count."""

from __future__ import annotations

import itertools

from knowledge.embeddings import common_word
from knowledge.entities import EntityIndex

NAMES = ["Bridge Guest House", "Kirkwood House", "Worth House", "Allenbell", "Avalon", "Limehouse",
         "Pizza Hut Cherry Hinton", "Pizza Hut City Centre", "A and B Guest House", "Curry King"]
CHUNKS = [(name, f"{name} offers free parking. {name} has wifi.") for name in NAMES] + [
    ("Kirkwood House", "Worth every penny, would stay again."),
    ("Avalon", "The standard rooms are small but worth it."),
    ("Limehouse", "Every room has a king size bed."),
]


def _index() -> EntityIndex:
    return EntityIndex(NAMES, CHUNKS, common_word)


def _resolve(*turns: str) -> list[str]:
    return [r.entity for r in _index().resolve(list(turns))]


def test_most_recent_mention_wins() -> None:
    assert _resolve("I stayed at Kirkwood House last year.", "How about the bridge guest house?",
                    "Is there parking there?") == ["Bridge Guest House"]
    assert _resolve("Is Avalon nice?", "Kirkwood House is lovely too.", "Does it have wifi?") == ["Kirkwood House"]


def test_loose_spellings() -> None:
    assert _resolve("you're booked into the Allen Bell guesthouse", "is the wifi good?") == ["Allenbell"]
    assert _resolve("any rooms at the bridge guesthouse?") == ["Bridge Guest House"]
    assert _resolve("what about kirkwood?") == ["Kirkwood House"]
    assert _resolve("I'd like the Kirkwod House please") == ["Kirkwood House"]  # typo, fuzzy


def test_common_words_do_not_name_entities() -> None:
    # An everyday word alone names an entity only if the workspace's other documents never use it.
    assert _resolve("is it worth it?") == []
    assert _resolve("a nice guest house in the north") == []
    assert _resolve("do you have a king size bed?") == []


def test_several_entities_in_one_turn_are_all_kept() -> None:
    found = _resolve("I can offer the Avalon or Limehouse.", "which has free parking?")
    assert sorted(found) == ["Avalon", "Limehouse"]


def test_partial_mention_defers_to_an_earlier_full_one() -> None:
    assert _resolve("Pizza Hut Cherry Hinton is in the south.", "does pizza hut serve beer?") == [
        "Pizza Hut Cherry Hinton"
    ]


def test_longer_reading_wins_over_the_shorter_one_inside_it() -> None:
    index = EntityIndex(["Nandos", "Nandos City Centre"], [], common_word)
    assert [r.entity for r in index.resolve(["a table at Nandos City Centre please"])] == ["Nandos City Centre"]
    assert [r.entity for r in index.resolve(["a table at Nandos please"])] == ["Nandos"]


def test_a_name_given_in_full_beats_the_longer_names_containing_it() -> None:
    # 200 stores, each with numbered branches: "Kalomer Briteros Store", "Kalomer Briteros Store 2", ...
    words = ["".join(p).title() for p in itertools.permutations(["ka", "lo", "mer", "vin", "dal", "ros", "te"], 3)]
    stores = [f"{words[i]} {words[-1 - i]} Store" for i in range(200)]
    names = [*stores, *(f"{store} {n}" for store in stores for n in range(2, 12))]
    index = EntityIndex(names, [(n, f"{n} has parking.") for n in names], common_word)
    store = stores[0]
    assert [r.entity for r in index.resolve([f"I'm looking at {store}", "is there parking?"])] == [store]
    # ...unless the thread named one of the longer ones in full before.
    assert [r.entity for r in index.resolve([f"{store} 7 is by the sea", f"is {store} quiet?"])] == [f"{store} 7"]


# Salience: what the thread is about, not the last word that looks like a name.
PLACES = ["Pizza Hut Cherry Hinton", "Warkworth House", "El Shaddai", "The Oak Bistro", "Acorn Guest House",
          "Saigon City", "Huntingdon Marriott Hotel", "Restaurant Two Two", "Backstreet Bistro",
          "The Slug and Lettuce", "City Stop Restaurant", "Nirala", "Golden Wok", "University Arms Hotel"]


def _places(*turns: str) -> list[str]:
    index = EntityIndex(PLACES, [(n, f"{n} has free parking and wifi.") for n in PLACES], common_word)
    return [r.entity for r in index.resolve(list(turns))]


def test_an_address_does_not_replace_the_subject() -> None:
    # "Warkworth Street" is where El Shaddai is, not the Warkworth House.
    assert _places("I want the hotel named El Shaddai.", "It is at 41 Warkworth Street, phone 01223.",
                   "is the internet stable?") == ["El Shaddai"]
    # An area that is also the tail of a name ("Cherry Hinton") is weak too.
    assert _places("Book me a table at Backstreet Bistro.", "Done. It is near Cherry Hinton.",
                   "do they serve beer?") == ["Backstreet Bistro"]


def test_an_everyday_word_does_not_replace_the_subject() -> None:
    # "oak" (an "ok" heard wrong) names nothing once the thread is about the Acorn Guest House.
    assert _places("the acorn guest house has free parking", "oak we booked you there",
                   "does it have wifi") == ["Acorn Guest House"]


def test_a_weak_mention_sets_the_subject_when_there_is_none() -> None:
    assert _places("what about the oak?", "do they have parking?") == ["The Oak Bistro"]


def test_the_entity_picked_up_later_is_the_referent() -> None:
    offered = "I have Backstreet Bistro and the Slug and Lettuce, both in the centre."
    assert sorted(_places(offered, "which has outdoor seating?")) == ["Backstreet Bistro", "The Slug and Lettuce"]
    assert _places(offered, "the slug sounds fun, book it", "do they take cards?") == ["The Slug and Lettuce"]
    # A strong mention later in the thread sets the subject outright.
    assert _places("is Golden Wok any good?", "Nirala is another option in the north.",
                   "is their beer good value?") == ["Nirala"]


def test_garbled_names_are_matched_by_sound() -> None:
    assert _places("umm the akorn guessed hose seems to fit", "do they serve breakfast") == ["Acorn Guest House"]
    assert _places("uh the hunting don umm marriott hotel is in the west", "is the internet fast") == [
        "Huntingdon Marriott Hotel"]
    assert _places("i have won called saigon city", "actually the nyrala please", "any beer") == ["Nirala"]
    assert _places("restaurant two to is on the north side", "do they have sauvignon blanc") == [
        "Restaurant Two Two"]
    assert _places("the university you know arms hotel is fantastic", "is the wifi stable") == [
        "University Arms Hotel"]


def test_everyday_words_that_sound_like_a_name_do_not_name_it() -> None:
    # "price" sounds like "Prezzo" and "get" like "Cote", but they are words, not garbled names.
    index = EntityIndex(["Prezzo", "Cote", "Meghna"], [], common_word)
    assert index.resolve(["do they have beer at a good price and can I get a table for the money"]) == []
