"""Prompt-injection signals and the system-prompt canary (OWASP LLM01, LLM07).

Inbound messages and retrieved knowledge are data written by other people. Text that addresses the model
(overrides, role play, requests for its instructions, orders about "your response") is flagged, never
followed: the drafter keeps such text fenced as data, and the checks mark the draft for the CM.

The canary is a random token per deployment placed in the system prompt. It carries no secret; it only
proves a leak: a draft containing it (plainly, spaced out, reversed, ROT13 or base64) is flagged. Its
alphabet has no vowels so "replace the vowels" tricks leave it intact.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import secrets
from functools import lru_cache

from ground.files import read_or_create
from ground.settings import Settings

_CANARY_ALPHABET = "bcdfghjklmnpqrstvwxz23456789"

_PATTERNS: dict[str, re.Pattern[str]] = {
    "instruction_override": re.compile(
        r"\b(ignore|disregard|forget|override|bypass|skip)\b.{0,40}\b(previous|prior|above|earlier|all|any|your|"
        r"these|the|system)\b.{0,25}\b(instructions?|prompts?|rules|guidelines|directions|messages?|context)\b|"
        r"\bnew (instructions?|rules|task)\s*:|\bfrom now on,? (you|reply|respond|answer|only)\b|"
        r"\b(instead|rather),? (reply|respond|write|say|answer) (with|that|only)\b", re.I | re.S),
    "role_play": re.compile(
        r"\byou are (now|no longer|going to (act|be|pretend))\b|\b(act|behave) as (if|an?|my)\b|"
        r"\bpretend (to be|you are|that you)\b|\b(developer|maintenance|debug|god|jailbreak|unrestricted) mode\b|"
        r"\bdo anything now\b|\bDAN\b|\bstay in character\b|\bsimulate (being|an?)\b|\bjailbr(oken|eak)\b", re.I),
    "prompt_extraction": re.compile(
        r"\b(system|initial|original|hidden|secret|starting|developer|first) (prompt|instructions?|message|"
        r"configuration|config|directives?|rules)\b|\b(your|the) (instructions|prompt|programming|directives)\b|"
        r"\b(repeat|print|output|show|reveal|display|dump|encode|translate|summari[sz]e|complete|continue)\b.{0,40}"
        r"\b(above|everything|verbatim|word for word|initiali[sz]ation|you were (given|told)|the text)\b|"
        r"\bwhat (were|are) you (told|instructed|given|not supposed)\b|\bmy instructions are\b|"
        r"\bi was instructed to\b|\bconsole\.log|\bsystemprompt\b|<\s*/?\s*system", re.I | re.S),
    "output_directive": re.compile(
        r"\b(in|into|to|from|within|throughout|at the (start|end|beginning) of) (your|the|each|every) (response|answer|"
        r"reply|output|replies|responses|answers)\b|\byour (response|answer|reply|output)s? (should|must|needs to|"
        r"has to|will)\b|\b(respond|reply|answer) (only )?(in|with|using) (all caps|json|base64|emoji|rot13|"
        r"french|spanish|german|code)\b|\b(start|begin|end|finish) your (answer|response|reply)\b|"
        r"\b(encourag|urg|ask|remind)\w* (the )?(users?|readers?|people|everyone) to\b|"
        r"\b(in|into) what you (write|say|reply|respond|send)\b|\bwhen you (respond|reply|answer|write back)\b|"
        r"\b(write|answer|reply|respond|speak|talk)\b[^.?!\n]{0,20}\bin (capital letters|all caps|uppercase|"
        r"lowercase|pig latin|emojis?|base64|rot13|morse|reverse|leetspeak)\b", re.I),
    "off_topic_task": re.compile(
        r"\b(write|compose|draft|create|generate|give me|tell me|sing)\b[^.?!\n]{0,25}\b(poem|haiku|story|essay|song|"
        r"lyrics|joke|limerick|speech|code|function|script|program|recipe|introduction|sonnet|rap)\b|"
        r"\btranslate\b[^.?!\n]{0,60}\b(to|into) [A-Z]?[a-z]+\b|\b(capital|population|president) of [A-Z][a-z]+\b",
        re.I),
    "reply_manipulation": re.compile(
        r"\b(provide|render|write|format|modify|jumble|rearrange|replace|make|keep|end|start|begin|put|include|add|"
        r"append|insert|remove|translate|encode|convert|structure|phrase|craft|compose|present|spell|use|integrate|"
        r"embed|promote|augment|enhance|extend|expand|supplement|conclude|finish|close|wrap|accompany|tailor|adjust|"
        r"alter|change|rewrite|reformat|restructure|style|limit|shorten|lengthen|enrich|prefix|sign|tag|incorporate|"
        r"weave|infuse|enclose|attach|fill|pad|mix|sprinkle|lace)\b[^.?!\n]{0,40}"
        r"\byour (response|answer|reply|message|output|text)s?\b|"
        r"\b(replac|substitut|swap|remov|rearrang|revers|jumbl|scrambl|shuffl|encod|misspell|introduc)\w*\b[^.?!\n]{0,30}"
        r"\b(vowels?|letters?|characters?|spaces|typos?|anagrams?|symbols)\b", re.I),
    "addressed_to_ai": re.compile(
        r"\b(dear|hey|hi|attention|note to (the)?) (ai|a\.i\.|assistant|chatbot|bot|gpt|chatgpt|llm|language model|"
        r"model)\b|\bif you are an? (ai|llm|bot|assistant|language model)\b|\bas an? (ai|language model)\b|"
        r"\b(ai|llm) (assistant|agent)s?,|\b(to|for) the (ai|assistant|bot|chatbot|model|llm)\s*[:,]", re.I),
    "chat_markup": re.compile(
        r"<\|(im_start|im_end|system|endoftext)\|>|\[/?INST\]|^\s*#{2,}\s*(instruction|system)|"
        r"^\s*(system|assistant)\s*:", re.I | re.M),
}
_DRAFTING_TALK = re.compile(r"\b(reply|response|answer) (to|for) (this|my|the) (comment|post|message)\b", re.I)


def injection_signals(text: str) -> list[str]:
    """Names of the injection patterns the text matches (empty: nothing that addresses the model)."""
    return list(_signals(text))


# Knowledge chunks come back for message after message (the same FAQs, every guideline): each text is
# scanned once, not on every draft.
@lru_cache(maxsize=2048)
def _signals(text: str) -> tuple[str, ...]:
    found = tuple(name for name, pattern in _PATTERNS.items() if pattern.search(text))
    if found == ("output_directive",) and _DRAFTING_TALK.search(text) and len(text) < 200:
        return ()  # "looking forward to your reply to my comment" is not an attack
    return found


def load_canary(settings: Settings) -> str:
    """The deployment's canary: from settings, else created once in the data directory and shared by workers."""
    if settings.canary:
        return settings.canary
    settings.ensure_dirs()
    token = "".join(secrets.choice(_CANARY_ALPHABET) for _ in range(20))
    return read_or_create(settings.data_dir / "canary.txt", token, 12, "canary token")


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{16,}")


def _decoded_runs(text: str) -> list[str]:
    out = []
    for run in _BASE64_RUN.findall(text.replace("\n", "")):
        for candidate in (run, run + "=", run + "=="):
            try:
                out.append(base64.b64decode(candidate, altchars=b"-_" if "-" in run or "_" in run else None)
                           .decode("utf-8", "ignore"))
                break
            except (binascii.Error, ValueError):
                continue
    return out


def canary_leaked(text: str, canary: str) -> bool:
    """The canary in the text, plainly or in one of the encodings extraction attacks ask for."""
    token = canary.lower()
    squeezed = re.sub(r"[^a-z0-9]", "", text.lower())
    views = [text.lower(), squeezed, squeezed[::-1], codecs.encode(squeezed, "rot13")]
    views.extend(re.sub(r"[^a-z0-9]", "", d.lower()) for d in _decoded_runs(text))
    return any(token in view for view in views)


def prompt_overlap(text: str, system_prompt: str, span: int = 8) -> bool:
    """True when the text repeats a run of ``span`` consecutive words of the system prompt."""
    words = re.findall(r"[a-z0-9']+", system_prompt.lower())
    grams = {" ".join(words[i : i + span]) for i in range(len(words) - span + 1)}
    seen = re.findall(r"[a-z0-9']+", text.lower())
    return any(" ".join(seen[i : i + span]) in grams for i in range(len(seen) - span + 1))
