"""Secrets never reach the trail: request bodies are redacted before they are stored."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "REDACTED"
# secret_key, password, renew_token, private_key, client_secret, otp... but not access_key, key_id.
SECRET_KEY_RE = re.compile(r"(secret|passw|token|private_key|otp|credential|authorization)", re.IGNORECASE)
NOT_SECRET = frozenset({"page_token", "next_page_token"})
NOT_SECRET_SUFFIXES = ("_id", "_ids")  # secret_id, token_id: identifiers, not secrets

# Verdicts on the keys seen so far: a trail repeats a small vocabulary of keys, and a dict lookup
# costs a tenth of the regex. Bounded, so a flood of random keys cannot grow it without end.
_VERDICTS: dict[str, bool] = {}
_VERDICTS_MAX = 20_000


def is_secret_key(key: Any) -> bool:
    """Does a value under `key` look like a secret (when it is a scalar)?"""
    verdict = _VERDICTS.get(key) if isinstance(key, str) else False
    if verdict is None:
        verdict = bool(
            key not in NOT_SECRET and SECRET_KEY_RE.search(key) and not key.endswith(NOT_SECRET_SUFFIXES)
        )
        if len(_VERDICTS) < _VERDICTS_MAX:
            _VERDICTS[key] = verdict
    return verdict


def _hides(key: Any, val: Any) -> bool:
    # A secret is a scalar; a structure under such a key (e.g. a resource's
    # `secret_manager_secret_info`) is recursed into, so the wire shape survives.
    return not isinstance(val, dict) and val is not None and val != "" and is_secret_key(key)


def redact(value: Any) -> Any:
    """A deep copy of `value` with every secret-looking key's value replaced by "REDACTED"."""
    if isinstance(value, dict):
        return {key: REDACTED if _hides(key, val) else redact(val) for key, val in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def redacted(value: Any) -> Any:
    """`redact(value)` without the copying: `value` itself when it holds no secret, else a copy
    of only the dicts and lists on the way to a secret. For values nobody else will mutate (a
    parsed request), where the deep copy is pure cost. Tuned: it runs on every ingested event."""
    if type(value) is dict:
        verdicts = _VERDICTS
        changes = None
        for key, val in value.items():
            kind = type(val)
            if kind is str:  # the common case: a secret if non-empty under a secret-looking key
                if not val or not (verdicts.get(key) or (key not in verdicts and is_secret_key(key))):
                    continue
                new = REDACTED
            elif kind is dict:
                if (new := redacted(val)) is val:
                    continue
            elif val is None:
                continue
            elif _hides(key, val):  # numbers, booleans, lists under a secret-looking key
                new = REDACTED
            elif isinstance(val, dict | list):
                if (new := redacted(val)) is val:
                    continue
            else:
                continue
            if changes is None:
                changes = {}
            changes[key] = new
        return value if changes is None else value | changes
    if type(value) is list:
        for index, item in enumerate(value):
            if isinstance(item, dict | list) and (new := redacted(item)) is not item:
                return [*value[:index], new, *(redacted(rest) for rest in value[index + 1 :])]
        return value
    if isinstance(value, dict | list):  # subclasses: the general, copying way
        return redact(value)
    return value
