"""The worker's look-up of an author's earlier messages (``desk.worker.author_history``) on a large table.

Baseline (same run, same database): the same question asked of the author JSON, as before migration 0013
(``author ->> 'id'`` read from every earlier message of the workspace). SQLite; ``BENCH_HISTORY_MESSAGES``
messages (default 50,000) from 20,000 authors. Printed: ms per look-up for a returning author and for a new
one (no earlier message: the baseline's worst case, it reads them all), and indexed/baseline.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session, col, select

from desk.db import make_engine, migrate, read_session
from desk.models import Message
from desk.worker import author_history
from testkit.live import make_settings

MESSAGES = int(os.environ.get("BENCH_HISTORY_MESSAGES", "50000"))
AUTHORS = 20_000
ROUNDS = 20


def _by_json(session: Session, message: Message, limit: int = 5) -> list[str]:
    """The look-up as it was before the author_id column (the baseline)."""
    author_id = str((message.author or {}).get("id"))
    rows = session.exec(
        select(Message.text)
        .where(Message.workspace == message.workspace, Message.platform == message.platform,
               col(Message.id) < message.id, col(Message.author)["id"].as_string() == author_id)
        .order_by(col(Message.id).desc())
        .limit(limit)
    ).all()
    return list(rows)[::-1]


def _ms(look_up: Callable[[Session, Message], list[str]], session: Session, message: Message) -> float:
    look_up(session, message)
    started = time.perf_counter()
    for _ in range(ROUNDS):
        look_up(session, message)
    return (time.perf_counter() - started) / ROUNDS * 1000


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="replydesk-bench-history-"))
    try:
        settings = make_settings(workdir)
        migrate(settings)
        engine = make_engine(settings)
        with engine.begin() as conn:
            for start in range(0, MESSAGES, 5_000):
                conn.execute(insert(Message), [
                    {"workspace": "default", "platform": "x", "external_id": f"m{i}", "author_id": f"u{i % AUTHORS}",
                     "author": {"id": f"u{i % AUTHORS}", "handle": f"user{i % AUTHORS}"}, "text": f"question {i}?",
                     "thread": []}
                    for i in range(start, min(MESSAGES, start + 5_000))
                ])
        with read_session(engine) as session:
            returning = session.get(Message, MESSAGES)
            assert returning is not None
            new = Message(id=MESSAGES + 1, workspace="default", platform="x", external_id="new", text="hi",
                          author={"id": "never-seen", "handle": "new"}, thread=[])
            print(f"{MESSAGES:,} messages, {AUTHORS:,} authors, SQLite")
            for name, message in (("returning author", returning), ("new author", new)):
                assert author_history(session, message) == _by_json(session, message)
                indexed, baseline = _ms(author_history, session, message), _ms(_by_json, session, message)
                print(f"{name}: indexed {indexed:.2f} ms, by the author JSON (baseline) {baseline:.2f} ms, "
                      f"indexed/baseline {indexed / baseline:.3f}")
        engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
