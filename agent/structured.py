"""Asking for JSON, and reading it back from whatever the model wrote.

Structured-output modes, strongest first:

- ``json_schema``: OpenAI's strict schema (OpenAI, Azure, vLLM, recent Ollama).
- ``json_object_schema``: ``{"type": "json_object", "schema": ...}``, llama-cpp-python's extension; its
  server turns the schema into a grammar, so even a tiny model writes the right shape.
- ``json_object``: any JSON object (LM Studio, older servers).
- ``none``: no ``response_format`` at all; the prompt asks for JSON and the reply is searched for it.

Whatever the mode, the reply is parsed tolerantly (prose or a Markdown fence around the object) and
validated against the pydantic model; a schema-enforcing server only makes failures rarer.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any, Literal, TypeVar

from openai.lib._pydantic import to_strict_json_schema  # the converter the SDK's parse() uses
from pydantic import BaseModel, ValidationError

_ITEMS = 8  # grammar bound on arrays (see bounded())
Mode = Literal["json_schema", "json_object_schema", "json_object", "none"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object_schema", "json_object", "none")
Parsed = TypeVar("Parsed", bound=BaseModel)

JSON_REMINDER = (
    "\n\nAnswer with one JSON object and nothing else: no prose before or after it, no Markdown fence. "
    "It must match this JSON schema:\n{schema}"
)
REPAIR = (
    "Your answer could not be used: {problem}\n"
    "Answer again with only the corrected JSON object, matching the schema. No other text."
)


class OutputProblem(ValueError):
    """The model's text holds no JSON object that validates; the message says what is wrong (for a repair)."""


def response_format(mode: Mode, schema: type[BaseModel]) -> dict[str, Any] | None:
    """The ``response_format`` of a request; a copy, so a caller may change it freely."""
    built = _response_format(mode, schema)
    return None if built is None else copy.deepcopy(built)


# Schemas are built once per (mode, model class): pydantic's JSON schema generation took a few ms of CPU
# on every LLM call, as much as the rest of the request.
@functools.cache
def _response_format(mode: Mode, schema: type[BaseModel]) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": to_strict_json_schema(schema), "strict": True}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": bounded(inline_refs(schema.model_json_schema()))}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every ``{"$ref": "#/$defs/X"}`` replaced by X itself and ``$defs`` dropped.

    llama.cpp's schema-to-grammar converter left a nested model's ``$ref`` as an undefined rule name
    ("summary-0 ::= LLMSummary"), failed to parse the grammar and took its server down; a schema without
    references turns into a grammar every such converter handles. Our models are not recursive.
    """
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[len("#/$defs/"):] in defs:
            merged = {**defs[ref[len("#/$defs/"):]], **{k: v for k, v in node.items() if k != "$ref"}}
            return resolve(merged)
        return {key: resolve(value) for key, value in node.items() if key != "$defs"}

    return dict(resolve(schema))


def bounded(node: Any) -> Any:
    """The schema with a length on every array, for servers that turn it into a grammar.

    A small model under a grammar can loop inside an array until ``max_tokens`` cuts the JSON off; with a
    bound the grammar closes it instead. Strings get no ``maxLength``: llama-cpp-python's converter writes
    one as that many nested optional rules, and at a few hundred its server failed to parse the grammar and
    went down (``max_tokens`` bounds a looping string instead). Only the grammar sees these bounds (validation uses
    the pydantic model), and only in ``json_object_schema`` mode: strict ``json_schema`` servers may
    refuse keywords they do not support.
    """
    if isinstance(node, list):
        return [bounded(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: bounded(value) if key not in ("properties", "$defs") else
           {k: bounded(v) for k, v in value.items()} for key, value in node.items()}
    if out.get("type") == "array" and "maxItems" not in out:
        out["maxItems"] = _ITEMS
    return out


@functools.cache
def schema_hint(schema: type[BaseModel]) -> str:
    """The JSON schema, compact, for prompts: models without enforcement still see the shape asked for."""
    return json.dumps(schema.model_json_schema(), separators=(",", ":"))


def first_json_object(text: str) -> dict[str, Any]:
    """The first complete JSON object in ``text``, wherever it starts (after prose, inside a fence).

    Hand-written on purpose: a JSON "repair" library would guess at truncated or broken output, and a
    guessed reply must not reach a CM as if the model had written it. ``raw_decode`` from each ``{``
    finds a complete object and ignores whatever follows it. Raw line breaks and tabs inside a string are
    accepted (``strict=False``): nothing is guessed, and llama-cpp-python's schema grammar allows them
    (its string rule excludes only quote and backslash), so a model writing a list in its reply under
    that grammar produces them.
    """
    decoder = json.JSONDecoder(strict=False)
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    if "{" in text:
        raise OutputProblem("the JSON object is incomplete or malformed (was the answer cut off?)")
    raise OutputProblem("there is no JSON object in the answer")


def parse_output(text: str, schema: type[Parsed]) -> Parsed:
    """Validate the first JSON object of ``text`` against ``schema``; OutputProblem says why not."""
    data = first_json_object(text)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'object'}: {error['msg']}" for error in exc.errors()[:5]
        )
        raise OutputProblem(f"the JSON does not match the schema ({problems})") from exc
