"""Speech-recognition-like noise for dialogue turns: a seeded, reproducible garbler.

Written dialogues (DSTC11) are clean; spoken ones arrive as transcripts: lower case, no punctuation,
fillers ("umm", "uh", "like"), homophones ("there" for "their", "for" for "four"), words heard as other
words that sound alike ("sitting" for "seating"), short words dropped, words split or merged ("house
keeping", "guesthouse"), names respelt the way they sound ("kimoy" for "Kymmoy", "allen bell"). The
substitutions are driven by phonetic codes (jellyfish's metaphone) over the embedding model's own
everyday-word list, not by a hand list of dataset words, so they generalise to any text.

The same (text, seed) always gives the same output: :func:`garble` draws from ``random.Random`` seeded
with the seed and a hash of the text.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections import defaultdict
from functools import lru_cache

import jellyfish

from knowledge.embeddings import common_word, vocabulary_words

FILLERS = ("umm", "uh", "like", "you know", "i mean", "so", "well", "um")
# Words that sound the same (a list any ASR error study starts from); applied both ways.
HOMOPHONES = [
    ("there", "their"), ("there", "they're"), ("to", "too"), ("to", "two"), ("for", "four"),
    ("know", "no"), ("new", "knew"), ("here", "hear"), ("by", "buy"), ("where", "wear"), ("right", "write"),
    ("one", "won"), ("hour", "our"), ("see", "sea"), ("which", "witch"), ("weather", "whether"),
    ("would", "wood"), ("allowed", "aloud"), ("fare", "fair"), ("meet", "meat"), ("week", "weak"),
    ("its", "it's"), ("your", "you're"), ("then", "than"), ("eight", "ate"), ("road", "rode"),
    ("stair", "stare"), ("red", "read"), ("sale", "sail"), ("some", "sum"), ("son", "sun"),
    ("pair", "pear"), ("peace", "piece"), ("plain", "plane"), ("rain", "reign"), ("wait", "weight"),
    ("way", "weigh"), ("whole", "hole"), ("knight", "night"), ("made", "maid"), ("mail", "male"),
    ("brake", "break"), ("cell", "sell"), ("cent", "scent"), ("dear", "deer"), ("die", "dye"),
    ("flower", "flour"), ("guest", "guessed"), ("higher", "hire"), ("in", "inn"), ("key", "quay"),
    ("suite", "sweet"), ("wine", "whine"), ("dine", "dyne"), ("tea", "tee"), ("bored", "board"),
]
SHORT_WORDS = frozenset(["a", "an", "the", "to", "of", "is", "are", "do", "does", "for", "in", "at", "on", "it",
                         "i", "and", "any", "be", "that"])
_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# Respellings that keep how a word sounds ("kymmoy" -> "kimoy"); tried in order, kept if the
# word's metaphone code does not change.
_RESPELL = [("ph", "f"), ("y", "i"), ("ck", "k"), ("c", "k"), ("ee", "ea"), ("ou", "ow"), ("ie", "y"),
            ("i", "y"), ("s", "z"), ("k", "c"), ("ae", "ay"), ("oo", "u")]
_WORD = re.compile(r"[a-z0-9']+|\d+:\d+")


@lru_cache(maxsize=1)
def _sound_index() -> dict[str, list[str]]:
    """Everyday words by metaphone code: the words an ASR system would pick for a sound."""
    index: dict[str, list[str]] = defaultdict(list)
    for word in sorted(vocabulary_words()):
        if len(word) >= 3:
            index[jellyfish.metaphone(word)].append(word)
    return index


def _homophones() -> dict[str, list[str]]:
    table: dict[str, list[str]] = defaultdict(list)
    for a, b in HOMOPHONES:
        table[a].append(b)
        table[b].append(a)
    return table


_HOMOPHONE = _homophones()


def number_words(n: int) -> str:
    if n < 20:
        return _NUMBERS[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _NUMBERS[n % 10])
    if n < 1000:
        rest = n % 100
        return _NUMBERS[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    return " ".join(_NUMBERS[int(d)] for d in str(n))  # digits read out, as for a phone number


def _spoken_numbers(word: str) -> str:
    if ":" in word:
        hours, minutes = word.split(":", 1)
        spoken = number_words(int(hours))
        return spoken if int(minutes) == 0 else f"{spoken} {number_words(int(minutes))}"
    return number_words(int(word)) if word.isdigit() and len(word) <= 3 else word


def _sounds_like(word: str, rng: random.Random) -> str:
    """Another everyday word with the same sound code ("seating" -> "sitting"), if there is one."""
    options = [w for w in _sound_index().get(jellyfish.metaphone(word), ())
               if w != word and w[0] == word[0] and abs(len(w) - len(word)) <= 2]
    return rng.choice(options) if options else word


def _respell(word: str, rng: random.Random) -> str:
    code = jellyfish.metaphone(word)
    rules = _RESPELL[:]
    rng.shuffle(rules)
    for old, new in rules:
        if old in word:
            candidate = word.replace(old, new, 1)
            if candidate != word and jellyfish.metaphone(candidate) == code:
                return candidate
    collapsed = re.sub(r"(.)\1", r"\1", word)  # "kymmoy" -> "kymoy"
    return collapsed


def _split(word: str, rng: random.Random) -> str:
    """A word heard as two ("housekeeping" -> "house keeping", "allenbell" -> "allen bell")."""
    cuts = [i for i in range(3, len(word) - 2)
            if common_word(word[:i]) and (common_word(word[i:]) or len(word) - i >= 4)]
    if not cuts:
        return word
    cut = rng.choice(cuts)
    return f"{word[:cut]} {word[cut:]}"


def garble(text: str, seed: int = 0, level: float = 1.0) -> str:
    """A transcript-like version of ``text``; ``level`` scales every noise probability."""
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = [_spoken_numbers(w) for w in _WORD.findall(folded)]
    words = " ".join(words).split()
    out: list[str] = []
    if words and rng.random() < 0.3 * level:
        out.append(rng.choice(FILLERS))
    i = 0
    while i < len(words):
        word = words[i]
        if rng.random() < 0.5:
            word = word.replace("'", "")
        roll = rng.random() / level
        if word in SHORT_WORDS and roll < 0.12:
            i += 1
            continue  # dropped
        if word in _HOMOPHONE and roll < 0.5:
            word = rng.choice(_HOMOPHONE[word])
        elif not common_word(word) and len(word) >= 5 and word.isalpha() and roll < 0.35:
            word = _split(word, rng) if rng.random() < 0.4 else _respell(word, rng)  # a name or rare word
        elif len(word) >= 4 and roll < 0.08:
            word = _sounds_like(word, rng)
        elif len(word) >= 7 and roll < 0.14:
            word = _split(word, rng)
        elif i + 1 < len(words) and len(word) + len(words[i + 1]) <= 12 and rng.random() < 0.05 * level:
            word += words[i + 1]  # two words run together
            i += 1
        out.append(word)
        if rng.random() < 0.05 * level:
            out.append(rng.choice(FILLERS))
        i += 1
    return " ".join(out)
