"""The one shape every connector has: what it supports, intake (push or pull) and delivery."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy.engine import Engine

from connectors.credentials import Secrets
from connectors.http import PlatformHttp
from desk.connector_tables import Connector
from desk.errors import BadRequest
from desk.inbound import MessageCreate
from desk.platforms import PlatformRefused, PlatformReply
from ground.redact import redact
from ground.settings import Settings

log = logging.getLogger("replydesk.connectors")


@dataclass(frozen=True)
class Capabilities:
    """What a connector does as built (not all the platform could): shown by ``connectors list``."""

    intake: str  # push | pull | gateway
    reply: bool = True
    dm: bool = False  # private replies / direct messages
    edit: bool = False
    delete: bool = False
    reactions: bool = False
    thread_context: bool = False  # earlier turns of the thread come with the message
    rate_limits: str = ""  # which platform signals are honoured
    max_reply_chars: int = 10_000


@dataclass
class Inbound:
    """A platform event as our inbound message, plus where its reply goes."""

    message: MessageCreate
    reply_to: dict[str, Any]
    permalink: str | None = None


@dataclass
class Intake:
    """What an event batch came to: new messages, duplicates (already stored), and what was ignored why."""

    accepted: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    """One line of ``connectors test``: a credential or permission, and what is missing when it fails."""

    name: str
    ok: bool
    detail: str


class PlatformConnector:
    """A connector of one platform account. Subclasses set the class variables and the platform calls."""

    platform: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    config_keys: ClassVar[dict[str, str]] = {}  # required plain settings: name -> what it is
    optional_keys: ClassVar[dict[str, str]] = {}
    secret_keys: ClassVar[dict[str, str]] = {}  # required credentials: name -> what it is
    optional_secrets: ClassVar[dict[str, str]] = {}

    def __init__(self, settings: Settings, row: Connector, secrets: Secrets) -> None:
        self.settings = settings
        self.row = row
        self.config: Mapping[str, Any] = row.config
        self.secrets = secrets
        self.http = self.make_http()

    @property
    def name(self) -> str:
        return self.row.name

    def make_http(self) -> PlatformHttp:
        raise NotImplementedError

    def close(self) -> None:
        self.http.close()

    @classmethod
    def validate(cls, config: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
        """Refuse a configuration that lacks what the platform needs, naming each missing item."""
        missing = [f"{k} ({v})" for k, v in cls.config_keys.items() if not config.get(k)]
        missing += [f"secret {k} ({v})" for k, v in cls.secret_keys.items() if k not in secrets]
        if missing:
            raise BadRequest(f"a {cls.platform} connector needs: {'; '.join(missing)}")
        unknown = set(config) - set(cls.config_keys) - set(cls.optional_keys)
        unknown_secrets = set(secrets) - set(cls.secret_keys) - set(cls.optional_secrets)
        if unknown or unknown_secrets:
            raise BadRequest(f"unknown {cls.platform} settings: {', '.join(sorted(unknown | unknown_secrets))}")

    # -- intake (push) --------------------------------------------------------------------------------
    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Check the platform's signature over the raw body (raise desk.errors.Unauthorized)."""
        raise BadRequest(f"{self.platform} connectors do not take pushed events")

    def parse(self, headers: Mapping[str, str], body: bytes, intake: Intake) -> list[Inbound]:
        """The messages in a verified event body; what is skipped is noted in ``intake.ignored``."""
        raise BadRequest(f"{self.platform} connectors do not take pushed events")

    def challenge(self, params: Mapping[str, str]) -> str:
        """A platform's subscription handshake (GET on the events route)."""
        raise BadRequest(f"{self.platform} connectors have no subscription challenge")

    # -- intake (pull, gateway) ----------------------------------------------------------------------
    def poll(self, engine: Engine) -> Intake:
        """One pass over the platform's streams from the persisted cursors (pull connectors)."""
        raise BadRequest(f"{self.platform} connectors do not poll")

    def run_gateway(self, engine: Engine, stop: threading.Event) -> None:
        """Stay connected and take events until ``stop`` is set (gateway connectors)."""
        raise BadRequest(f"{self.platform} connectors have no gateway")

    # -- delivery -------------------------------------------------------------------------------------
    def deliver(self, reply_to: Mapping[str, Any], text: str, attempts: int) -> PlatformReply:
        """Post the reply once: a later attempt first looks for the post an earlier one may have made."""
        limit = self.capabilities.max_reply_chars
        if len(text) > limit:
            raise PlatformRefused(f"the reply has {len(text)} characters; {self.platform} allows {limit}")
        if attempts > 1:
            found = self.find_reply(reply_to, text)
            if found is UNVERIFIABLE:
                # An earlier attempt may have reached the platform (a timeout, a 5xx after it accepted the
                # post), and this kind of reply cannot be listed: never twice outranks never late.
                raise PlatformRefused(
                    f"an earlier attempt may already have posted this reply, and {self.platform} cannot list this "
                    "kind of reply to check: look on the platform, then post it by hand if it is not there")
            if isinstance(found, PlatformReply):
                return found
        return self.post_reply(reply_to, text)

    def post_reply(self, reply_to: Mapping[str, Any], text: str) -> PlatformReply:
        raise NotImplementedError

    def find_reply(self, reply_to: Mapping[str, Any], text: str) -> PlatformReply | Unverifiable | None:
        """Our earlier post of ``text`` under ``reply_to``; None if there is none; UNVERIFIABLE if the platform
        cannot list this kind of reply."""
        raise NotImplementedError

    # -- configuration check --------------------------------------------------------------------------
    def check(self) -> list[Check]:
        raise NotImplementedError


class Unverifiable:
    """The platform cannot say whether an earlier attempt posted the reply."""


UNVERIFIABLE = Unverifiable()


def best_effort(what: str, fetch: Callable[[], list[dict[str, str]]]) -> list[dict[str, str]]:
    """Thread context is a help, not a condition: when the platform cannot give it, the message is taken
    without it (an event must not be refused, or a poller stuck, for want of its context)."""
    try:
        return fetch()
    except Exception as exc:
        log.warning("no thread context for %s: %s", what, redact(f"{type(exc).__name__}: {exc}"))
        return []


def same_text(a: str, b: str) -> bool:
    """Our reply as the platform shows it: compared without differences of whitespace."""
    return " ".join(a.split()) == " ".join(b.split())
