"""Named errors of the evals package; the CLI turns them into messages once, at the boundary."""

from __future__ import annotations


class EvalError(Exception):
    """Base class for eval errors."""


class SuiteError(EvalError):
    """A suite file is malformed; the message names the file, and the line and field when known."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class SuiteUnavailable(EvalError):
    """A suite needs data that is not here (e.g. ../shared/data); callers skip it and say so."""


class RunNotFound(EvalError):
    """No stored eval run has this id."""

