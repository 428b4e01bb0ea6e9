"""The workspace-name rule, defined once: the API validates with the same pattern the knowledge store
needs (Chroma collection names must start and end with a letter or digit)."""

from __future__ import annotations

import re

WORKSPACE_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,46}[a-z0-9])?$"
WORKSPACE_RULE = "1-48 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit"
_WORKSPACE = re.compile(WORKSPACE_PATTERN)


def is_workspace_name(value: object) -> bool:
    return isinstance(value, str) and _WORKSPACE.match(value) is not None
