"""Run every benchmark, or the ones named: ``python -m bench [loop ...]``."""

from __future__ import annotations

import argparse
import logging

from bench import (
    connectors,
    console,
    embedding_models,
    evals,
    graph,
    hardening,
    history,
    insights,
    knowledge,
    loop,
    queue,
    relevance,
    triage_labels,
)

BENCHMARKS = {
    "loop": loop.main,
    "graph": graph.main,
    "history": history.main,
    "knowledge": knowledge.main,
    "queue": queue.main,
    "evals": evals.main,
    "insights": insights.main,
    "hardening": hardening.main,
    "relevance": relevance.main,
    "triage-labels": triage_labels.main,
    "console": console.main,
    "connectors": connectors.main,
    "embedding-models": embedding_models.main,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    logging.basicConfig(level=logging.WARNING)
    for name in args.names or list(BENCHMARKS):
        print(f"== {name}")
        BENCHMARKS[name]()


if __name__ == "__main__":
    main()
