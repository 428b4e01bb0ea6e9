"""Named insights errors; the API and the CLI translate them once, at their boundary."""

from __future__ import annotations


class InsightsError(Exception):
    """Base class: something the caller asked for cannot be done as asked."""


class InvalidPeriod(InsightsError):
    """since/until/period do not describe a usable time range."""


class SuggestionNotFound(InsightsError):
    pass


class SuggestionConflict(InsightsError):
    """The suggestion was already decided (or changed) by someone else."""


class MissingAnswer(InsightsError):
    """A suggestion without a CM-approved answer needs one before it can be accepted."""


class NotifyError(InsightsError):
    """A webhook post failed (the caller records it and retries later)."""
