"""Load the reference verifier from docs/webhooks.md, so the documented code is the tested code."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from testkit.live import ROOT


def load_reference_verifier() -> Callable[..., str]:
    text = (ROOT / "docs" / "webhooks.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], "docs/webhooks.md", "exec"), namespace)
    verify: Callable[..., str] = namespace["verify"]
    return verify
