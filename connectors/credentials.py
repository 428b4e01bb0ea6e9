"""Connector credentials: referenced by environment variable name, or stored encrypted with a key derived
from the master secret (HKDF-SHA256 → Fernet). A credential is never echoed, logged or served: what a
person sees is where it comes from (``env:NAME``, ``stored (encrypted)``)."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from desk.errors import BadRequest
from desk.signing import master_key
from ground.settings import Settings

_INFO = b"replydesk connector credentials v1"


class MissingCredential(Exception):
    """A credential a connector needs is not available (unset variable, unreadable stored value)."""


@lru_cache(maxsize=4)
def _fernet(key: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key)
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(settings: Settings, value: str) -> dict[str, str]:
    if not value:
        raise BadRequest("an empty credential cannot be stored")
    return {"enc": _fernet(master_key(settings)).encrypt(value.encode()).decode()}


def env_ref(name: str) -> dict[str, str]:
    if not name or not name.replace("_", "").isalnum():
        raise BadRequest(f"{name!r} is not an environment variable name")
    return {"env": name}


def describe(ref: Mapping[str, Any]) -> str:
    """Where a credential comes from, for people (never the value)."""
    if "env" in ref:
        state = "set" if os.environ.get(str(ref["env"])) else "not set in this process"
        return f"env:{ref['env']} ({state})"
    return "stored (encrypted)"


class Secrets:
    """A connector's credentials, resolved when used (an environment variable may be set after ``add``)."""

    def __init__(self, settings: Settings, refs: Mapping[str, Any]) -> None:
        self.settings = settings
        self.refs = refs

    def __contains__(self, name: str) -> bool:
        return name in self.refs

    def get(self, name: str) -> str:
        ref = self.refs.get(name)
        if ref is None:
            raise MissingCredential(f"credential {name!r} is not configured")
        if "env" in ref:
            value = os.environ.get(str(ref["env"]), "")
            if not value:
                raise MissingCredential(f"credential {name!r}: environment variable {ref['env']} is not set")
            return value
        try:
            return _fernet(master_key(self.settings)).decrypt(str(ref["enc"]).encode()).decode()
        except (InvalidToken, KeyError):
            raise MissingCredential(f"credential {name!r} cannot be decrypted (was the master secret changed?)") \
                from None

    def optional(self, name: str) -> str | None:
        return self.get(name) if name in self.refs else None
