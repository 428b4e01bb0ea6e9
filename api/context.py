"""Per-process application context: settings, database engine, knowledge store, graph runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from desk.db import make_engine
from ground.settings import Settings
from knowledge.store import KnowledgeStore


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    store: KnowledgeStore
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        return cls(settings=settings, engine=make_engine(settings), store=KnowledgeStore(settings))
