"""The JSON Schema vocabulary the declarations (`api.declare`) describe themselves with.

Each schema states what `api.http.Params` accepts, so that the generated document and the parsing
agree: an empty query value is absent (`allowEmptyValue`), booleans are read as Go's
strconv.ParseBool reads them, and optional body fields may be `null` (ids and timestamps also `""`).
"""

from __future__ import annotations

from typing import Any

from api.http import DATETIME_MAX_LENGTH, FALSE, TRUE, UUID_RE

Schema = dict[str, Any]

UUID: Schema = {"type": "string", "format": "uuid", "pattern": UUID_RE.pattern}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
# What the API reads as a timestamp: RFC 3339 (the API also takes Python's space-separated
# spelling and a missing offset, which means UTC).
TIMESTAMP_INPUT: Schema = {
    "type": "string",
    "format": "date-time",
    "maxLength": DATETIME_MAX_LENGTH,
    "description": "RFC 3339, e.g. 2026-01-31T09:30:00Z; offsets up to ±23:59.",
}
# Go's strconv.ParseBool spellings, which Scaleway's gateway reads (Python's SDK sends `True`).
BOOLEAN_INPUT: Schema = {"enum": [True, False, *sorted(TRUE), *sorted(FALSE)]}
ABSENT: Schema = {"enum": ["", None]}  # in a JSON body: the same as leaving the field out
# Text the database can store: PostgreSQL refuses NUL characters.
NO_NUL = "^[^\\x00]*$"
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (api.http.CONTROL_RE).
_CONTROLS = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029"
# Characters Python's str.strip() removes, beyond the controls: a name needs one that is neither.
_SPACES = "\\x20\\xa0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000"
SINGLE_LINE_NAME = f"^[^{_CONTROLS}]*[^{_CONTROLS}{_SPACES}][^{_CONTROLS}]*$"
NOT_BLANK = f"[^\\x00{_SPACES}\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f\\x85\\u2028\\u2029]"
INTEGER: Schema = {"type": "integer"}
STRING: Schema = {"type": "string"}


def text(max_length: int, **extra: Any) -> Schema:
    """A free string: at most `max_length` characters, without NUL."""
    return {"type": "string", "maxLength": max_length, "pattern": NO_NUL, **extra}


def optional(schema: Schema) -> Schema:
    """A JSON body field that may also be null (and, for ids and timestamps, empty)."""
    return {"anyOf": [schema, ABSENT]}


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def closed(properties: dict[str, Schema], *, required: list[str] | None = None, **extra: Any) -> Schema:
    """An object of exactly these properties, as an answer is: a field the declaration lacks
    fails the conformance checks (schemathesis's, and the test suite's on every answer)."""
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    return {**schema, **extra}
