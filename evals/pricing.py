"""Token cost from a configurable price table (USD per million tokens)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evals.errors import EvalError

DEFAULT_PRICES = Path(__file__).resolve().parent / "prices.yaml"


def load_prices(path: Path | None = None) -> dict[str, dict[str, float]]:
    source = path or DEFAULT_PRICES
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise EvalError(f"{source}: cannot read the price table: {exc}") from exc
    prices: dict[str, dict[str, float]] = {}
    for model, entry in data.items():
        if not isinstance(entry, dict) or not {"input", "output"} <= set(entry):
            raise EvalError(f"{source}: {model}: expected {{input: USD/1M tokens, output: USD/1M tokens}}")
        prices[str(model)] = {"input": float(entry["input"]), "output": float(entry["output"])}
    return prices


def cost(by_model: dict[str, dict[str, int]], prices: dict[str, dict[str, float]]) -> dict[str, Any]:
    """USD for live calls; models missing from the table are listed, and the total is then None."""
    total = 0.0
    unknown = []
    for model, usage in by_model.items():
        price = prices.get(model)
        if price is None:
            unknown.append(model)
            continue
        total += usage["prompt_tokens"] / 1e6 * price["input"] + usage["completion_tokens"] / 1e6 * price["output"]
    return {"usd": None if unknown else round(total, 6), "unknown_models": unknown}
