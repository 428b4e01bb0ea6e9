"""Run and resume reply threads; the only place that talks to the checkpointer."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any

from langgraph.types import Command

from agent.graph import AgentRuntime, build_graph
from agent.state import InboundMessage, ReviewDecision, ReviewRequest
from ground.settings import Settings


def open_checkpointer(settings: Settings) -> tuple[Any, AbstractContextManager[Any] | None]:
    """A durable checkpointer: SQLite file beside the data, or Postgres when the database is Postgres."""
    if settings.is_sqlite:
        from langgraph.checkpoint.sqlite import SqliteSaver

        settings.ensure_dirs()
        conn = sqlite3.connect(str(settings.checkpoint_path), check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: no fsync per commit; a killed process loses nothing
        conn.execute("PRAGMA busy_timeout=30000")
        return SqliteSaver(conn), None
    from langgraph.checkpoint.postgres import PostgresSaver

    manager = PostgresSaver.from_conn_string(settings.libpq_url)
    saver = manager.__enter__()
    saver.setup()
    return saver, manager


class ReplyRunner:
    """Starts a thread per message and resumes it with a CM's decision."""

    def __init__(self, settings: Settings, runtime: AgentRuntime | None = None) -> None:
        self.runtime = runtime or AgentRuntime.from_settings(settings)
        self.checkpointer, self._manager = open_checkpointer(settings)
        self.graph = build_graph(self.checkpointer)

    def close(self) -> None:
        self.runtime.close()
        if self._manager is not None:
            self._manager.__exit__(None, None, None)

    @staticmethod
    def _config(thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}}

    def pending_request(self, thread_id: str) -> ReviewRequest | None:
        """The review request a thread is paused on, if it is paused."""
        state = self.graph.get_state(self._config(thread_id))
        for task in state.tasks:
            for pending in task.interrupts:
                return ReviewRequest.model_validate(pending.value)
        return None

    # durability="exit": a run writes its checkpoint once, when it pauses for review or ends (before
    # invoke returns), not after every node. Intermediate checkpoints were never used: a retried job
    # starts the thread over (start() with input) or finds it still paused (resume()), and each write
    # serialised the whole state through the one checkpointer connection every lane shares.
    def start(self, thread_id: str, message: InboundMessage) -> ReviewRequest | None:
        """Run a new thread up to review. Re-running a thread already paused returns its request."""
        paused = self.pending_request(thread_id)
        if paused is not None:
            return paused
        with self.runtime.store.pinned():
            result = self.graph.invoke(
                {"message": message.model_dump()}, self._config(thread_id), context=self.runtime, durability="exit"
            )
        return _interrupt_of(result)

    def resume(self, thread_id: str, decision: ReviewDecision) -> ReviewRequest | None:
        """Resume a paused thread; returns the next review request (after regenerate) or None."""
        if self.pending_request(thread_id) is None:
            # Resuming a thread that is not paused would silently start over or no-op.
            return None
        with self.runtime.store.pinned():
            result = self.graph.invoke(
                Command(resume=decision.model_dump()), self._config(thread_id), context=self.runtime,
                durability="exit",
            )
        return _interrupt_of(result)

    def final_state(self, thread_id: str) -> dict[str, Any]:
        return dict(self.graph.get_state(self._config(thread_id)).values)


def _interrupt_of(result: dict[str, Any]) -> ReviewRequest | None:
    interrupts = result.get("__interrupt__") or ()
    for item in interrupts:
        return ReviewRequest.model_validate(item.value)
    return None
