"""Where a principal may act: the workspaces of its key (``*``: every workspace, installation admins only).

A scope is passed into every domain function that reads or changes workspace data, so the boundary holds
whoever calls (a route, the CLI, a later console session), not only where a route remembers to check:

- an object outside the scope is not found (``NotFound``: its existence is never confirmed);
- a filter or a body naming a workspace outside the scope is refused (``Forbidden``);
- a listing without a workspace filter covers only the scope's workspaces.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import col

from desk.errors import BadRequest, Forbidden, NotFound
from ground.names import WORKSPACE_RULE, is_workspace_name

EVERY = "*"


@dataclass(frozen=True)
class Scope:
    """The workspaces a principal may act in; ``workspaces is None`` means every one (``*``)."""

    workspaces: frozenset[str] | None

    @classmethod
    def of(cls, names: Iterable[str]) -> Scope:
        """A scope from workspace names (``*`` among them: every workspace). Names are validated."""
        wanted = [n.strip() for n in names if n.strip()]
        if not wanted:
            raise BadRequest("a key needs at least one workspace (or '*' for every workspace)")
        if EVERY in wanted:
            return INSTALLATION
        for name in wanted:
            if not is_workspace_name(name):
                raise BadRequest(f"workspace {name!r}: {WORKSPACE_RULE}")
        return cls(frozenset(wanted))

    @classmethod
    def parse(cls, stored: str) -> Scope:
        """The scope of a stored key (``api_keys.workspaces``: ``*`` or comma-separated names)."""
        return cls.of(stored.split(","))

    def stored(self) -> str:
        return EVERY if self.workspaces is None else ",".join(sorted(self.workspaces))

    def names(self) -> list[str]:
        return [EVERY] if self.workspaces is None else sorted(self.workspaces)

    @property
    def everywhere(self) -> bool:
        return self.workspaces is None

    def allows(self, workspace: str | None) -> bool:
        return self.workspaces is None or workspace in self.workspaces

    def covers(self, other: Scope) -> bool:
        """Whether every workspace of ``other`` is in this scope (``*`` is covered only by ``*``)."""
        if self.workspaces is None:
            return True
        return other.workspaces is not None and other.workspaces <= self.workspaces

    def check_filter(self, workspace: str | None) -> None:
        """A workspace the caller names (a filter, a body field): outside the scope it is refused."""
        if workspace is not None and workspace != "" and not self.allows(workspace):
            raise Forbidden(f"this key may not act in workspace {workspace!r}")

    def check_object(self, workspace: str | None, what: str) -> None:
        """An object the caller reached by id: outside the scope it does not exist for them."""
        if not self.allows(workspace):
            raise NotFound(f"{what} not found")

    def condition(self, column: Any) -> list[Any]:
        """SQL conditions limiting ``column`` (a workspace column) to the scope: none for ``*``."""
        if self.workspaces is None:
            return []
        return [col(column).in_(sorted(self.workspaces))]

    def workspace_for(self, named: str | None, default: str) -> str:
        """The workspace a request acts in: the one it names (checked), else the installation's default when
        the scope holds it, else the scope's only workspace; a key for several must name one."""
        if named:
            self.check_filter(named)
            return named
        if self.allows(default):
            return default
        assert self.workspaces is not None
        if len(self.workspaces) == 1:
            return next(iter(self.workspaces))
        raise Forbidden(f"this key acts in several workspaces ({', '.join(sorted(self.workspaces))}): name one")


INSTALLATION = Scope(None)  # the CLI, the worker, the relay: whoever runs them owns the server
