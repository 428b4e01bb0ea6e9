"""Named errors of the agent package."""

from __future__ import annotations


class AgentError(Exception):
    """Base class for agent errors."""


class DraftingError(AgentError):
    """The LLM could not produce a usable draft (endpoint down, malformed output)."""
