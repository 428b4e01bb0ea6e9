"""LLM usage counters: exact for this process from memory, other processes' counts read from the store."""

from __future__ import annotations

from agent import resilience
from agent.memory import open_store
from agent.resilience import UsageLedger
from ground.settings import Settings

NS = ("llm", "tokens", "default", "2026-12-02")


def test_counts_are_exact_here_and_summed_with_other_processes(settings: Settings) -> None:
    store, _manager = open_store(settings)
    store.put(NS, "other-host-1", {"tokens": 500, "calls": 2})  # written by another process
    ledger = UsageLedger(store)
    assert ledger.total(NS, "tokens") == 500
    for _ in range(10):
        ledger.add(NS, tokens=7, calls=1)
    assert ledger.total(NS, "tokens") == 570 and ledger.total(NS, "calls") == 12
    # Only the first add reached the store at once; the rest waits for the next write or a flush.
    assert store.get(NS, resilience._PROCESS).value == {"tokens": 7, "calls": 1}  # type: ignore[union-attr]
    ledger.flush()
    assert store.get(NS, resilience._PROCESS).value == {"tokens": 70, "calls": 10}  # type: ignore[union-attr]
    # A new ledger in this process (a restart with the same pid) goes on from the stored value.
    again = UsageLedger(store)
    again.add(NS, tokens=1)
    assert again.total(NS, "tokens") == 571
    store.conn.close()  # type: ignore[attr-defined]
