"""Named errors of the agent package."""

from __future__ import annotations


class AgentError(Exception):
    """Base class for agent errors."""


class DraftingError(AgentError):
    """An LLM call gave nothing usable (endpoint down, refused, malformed output, guard said no).

    ``str(exc)`` is plain words a CM may read; ``endpoint`` and ``mode`` say where and how it was asked,
    for the log line. Raw server text never goes into the message; logs get it through ground/redact.py.
    """

    def __init__(self, reason: str, *, endpoint: str = "", mode: str = "", code: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.endpoint = endpoint
        self.mode = mode
        self.code = code or "unavailable"  # short tag for counters and eval notes: "HTTP 500", "timeout", ...


class LLMUnavailable(DraftingError):
    """The endpoint did not answer usefully: timeouts, connection errors, 5xx or 429 after retries, 4xx."""


class LLMOutputInvalid(DraftingError):
    """The endpoint answered, but not with the JSON asked for, even after one repair round."""


class TaxonomyError(AgentError):
    """A labelled-examples file or a stored taxonomy could not be used; names the file and line."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")
