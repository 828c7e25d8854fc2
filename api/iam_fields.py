"""What the IAM endpoints beyond logs and API keys share: names and descriptions checked as the
console's forms check them, repeated ids, tags, the one answer to a write the services refuse,
and the lookups that answer not_found for anything outside the key's organization."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Model, QuerySet

from api.declare import Field, Param, Query
from api.http import UUID_RE, ApiError, Params, argument_error, invalid_arguments, not_found
from api.schemas import SINGLE_LINE_NAME, UUID, Schema, array, optional

NAME_MAX, DESCRIPTION_MAX, MAX_IDS, MAX_TAGS = 64, 200, 100, 10

NAME: Schema = {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": SINGLE_LINE_NAME}
UUIDS: Schema = array(UUID, maxItems=MAX_IDS)
TAGS_HELP = "Tags are not kept here: only an empty list (or none) is accepted."


def name_field(*, required: bool) -> Param:
    """A name: 1 to 64 characters on one line, as the console's forms take it."""
    schema = NAME if required else optional(NAME)
    return Field.custom(
        "name",
        schema,
        lambda p: p.string("name", max_length=NAME_MAX, required=required, single_line=True),
    )


def description_field() -> Param:
    return Field.string("description", max_length=DESCRIPTION_MAX)


def _tags(params: Params) -> list[str]:
    value = params.data.get("tags")
    if value is None or value == []:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        params.error("tags", "format", "tags must be a list of strings")
    else:
        params.error("tags", "constraint", TAGS_HELP)
    return []


TAGS_FIELD = Field.custom(
    "tags", {"anyOf": [{"type": "array", "maxItems": 0}, {"type": "null"}], "description": TAGS_HELP}, _tags
)


def _uuid_values(params: Params, name: str, values: Any) -> list[uuid.UUID]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        params.error(name, "format", f"{name} must be a list of UUIDs")
        return []
    if len(values) > MAX_IDS:
        params.error(name, "constraint", f"give at most {MAX_IDS} ids in {name}")
        return []
    if any(not UUID_RE.fullmatch(v) for v in values):
        params.error(name, "format", f"{name} must be a list of UUIDs")
        return []
    return list(dict.fromkeys(uuid.UUID(v) for v in values))


def query_uuids(name: str) -> Param:
    """A repeated query parameter of ids (`user_ids=…&user_ids=…`); empty values are no filter."""
    return Query.custom(
        name,
        UUIDS,
        lambda p: _uuid_values(p, name, [v for v in p.data.getlist(name) if v]),
        "Repeat the parameter for several ids.",
    )


def body_uuids(name: str, *, required: bool = False) -> Param:
    """A JSON list of ids; null or absent is an empty list (or, `required`, an error)."""

    def parse(params: Params) -> list[uuid.UUID]:
        value = params.data.get(name)
        if value is None:
            if required:
                params.error(name, "required", f"{name} is required (an empty list for none)")
            return []
        return _uuid_values(params, name, value)

    return Field.custom(name, UUIDS if required else {"anyOf": [UUIDS, {"type": "null"}]}, parse)


def refused(name: str, message: str) -> ApiError:
    """A write the IAM services refuse (IamError): invalid_arguments naming what is wrong."""
    return invalid_arguments([argument_error(name, "constraint", message)])


def get_or_404[M: Model](qs: QuerySet[M], resource: str, object_id: str) -> M:
    """The object of `qs` (already scoped to the organization) with this id, or not_found."""
    found = qs.filter(pk=object_id).first() if UUID_RE.fullmatch(object_id) else None
    if found is None:
        raise not_found(resource, object_id)
    return found


def path_resources(type_: str) -> Any:
    """The refused call's resource, named by the id in its path (cut to a UUID's length)."""

    def resources(**path: str) -> list[dict[str, Any]]:
        return [{"id": next(iter(path.values()))[:36], "type": type_}]

    return resources
