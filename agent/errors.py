"""Named errors of the agent package."""

from __future__ import annotations


class AgentError(Exception):
    """Base class for agent errors."""


class DraftingError(AgentError):
    """The LLM could not produce a usable draft (endpoint down, malformed output)."""


class TaxonomyError(AgentError):
    """A labelled-examples file or a stored taxonomy could not be used; names the file and line."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")
