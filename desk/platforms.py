"""What the relay needs from a platform connector, stated in the domain so the relay (here) can deliver
through connectors (above it) without importing them: the API process and ``replydesk relay`` hand the relay
a ``PlatformSender``; a message that came through no connector goes to the workspace's webhook as before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from desk.models import Delivery, Message


@dataclass(frozen=True)
class PlatformReply:
    """Our post on the platform: where it went (for people), its id and its address."""

    target: str
    post_id: str
    url: str | None = None


class PlatformRefused(Exception):
    """The platform refused the reply for good (the post is gone, a permission is missing): the delivery
    fails at once, visibly, with the platform's reason (redacted)."""


class PlatformDeferred(Exception):
    """The platform asked us to wait (a rate limit): the delivery is retried after ``wait`` seconds and the
    attempt is not counted — a burst is slowed down, never dropped."""

    def __init__(self, wait: float, reason: str) -> None:
        super().__init__(reason)
        self.wait = wait


class PlatformSender(Protocol):
    def send(self, delivery: Delivery, message: Message) -> PlatformReply | None:
        """Post the delivery's text as a reply on the message's platform, or None when the message came
        through no connector. A delivery with ``attempts > 1`` may have been posted already (a timeout, a
        crash before it was marked): the sender looks for our reply before posting again."""
        ...

    def close(self) -> None: ...
