"""In-process wake-ups for polling loops: a commit that gives a loop work bumps a counter the loop reads.

A loop that finds nothing to do backs off (its database probe, not its tick, runs less often), and a writer in
the same process brings it back at once. Writers in other processes are seen at the next probe.
"""

from __future__ import annotations

import threading


class Pulse:
    """A counter bumped by :meth:`notify`; a reader compares it with the value it saw last (every reader
    sees every bump, unlike an Event that one reader would clear for all)."""

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    def notify(self) -> None:
        with self._lock:
            self._value += 1

    @property
    def value(self) -> int:
        return self._value


outbox = Pulse()  # a delivery was written (approval): the relay has work
