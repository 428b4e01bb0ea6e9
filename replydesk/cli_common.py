"""What several CLI commands share: a migrated database engine, and running a loop until Ctrl-C."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine

from ground.settings import get_settings


def migrated_engine() -> Engine:
    """The queue's database, migrated to the newest schema first."""
    from desk.db import make_engine, migrate

    settings = get_settings()
    migrate(settings)
    return make_engine(settings)


def run_until_interrupted(run_forever: Callable[[threading.Event], None], close: Callable[[], None]) -> None:
    """Run a loop that stops when its event is set; Ctrl-C sets it, and close() runs however it ends."""
    stop = threading.Event()
    try:
        run_forever(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        close()
