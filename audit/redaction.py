"""Secrets never reach the trail: request bodies are redacted before they are stored."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "REDACTED"
# secret_key, password, renew_token, private_key, client_secret, otp... but not access_key, key_id.
SECRET_KEY_RE = re.compile(r"(secret|passw|token|private_key|otp|credential|authorization)", re.IGNORECASE)
NOT_SECRET = frozenset({"page_token", "next_page_token"})
NOT_SECRET_SUFFIXES = ("_id", "_ids")  # secret_id, token_id: identifiers, not secrets


def redact(value: Any) -> Any:
    """A deep copy of `value` with every secret-looking key's value replaced by "REDACTED"."""
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str)
            and key not in NOT_SECRET
            and SECRET_KEY_RE.search(key)
            and not key.endswith(NOT_SECRET_SUFFIXES)
            # A secret is a scalar; a structure under such a key (e.g. a resource's
            # `secret_manager_secret_info`) is recursed into, so the wire shape survives.
            and not isinstance(val, dict)
            and val not in (None, "")
            else redact(val)
            for key, val in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
