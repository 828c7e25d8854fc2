"""The OpenAPI 3.1 document of the whole API, served at /x/openapi.json, generated.

Nothing here describes an endpoint: the document is built from the operations the URLconf routes
to (`api.declare`), each of which parses its own parameters and declares its own answers, and from
the schemas registered beside them. So the document cannot drift from the code: a test fuzzes the
API from it with schemathesis's conformance checks (every request the document allows is
accepted, every request it forbids refused, every answer matches its schema), and the test
settings check every answer of the suite against its declaration too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from api.declare import COMPONENTS, Operation, operations_of
from api.schemas import Schema

CONVERTER_RE = re.compile(r"<(?:\w+:)?(\w+)>")  # Django's <str:region> is OpenAPI's {region}
TAGS = ("Audit Trail", "IAM", "Ingestion (extension)")


def declared() -> Iterator[tuple[str, Operation]]:
    """(OpenAPI path, operation) for every operation the URLconf routes to, in its order."""
    from api import urls  # the URLconf imports this module for its view

    for pattern in urls.urlpatterns:
        route = "/" + CONVERTER_RE.sub(r"{\1}", str(pattern.pattern))
        for operation in operations_of(pattern.callback).values():
            yield route, operation


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Schema]] = {}
    for route, operation in declared():
        paths.setdefault(route, {})[operation.method.lower()] = operation.openapi()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Audit Trail API",
            "version": "v1alpha1",
            "description": (
                "Wire-compatible with Scaleway's Audit Trail v1alpha1 and IAM v1alpha1 (logs, API "
                "keys): point the official SDKs at this server with `api_url`. Authenticate with "
                "`X-Auth-Token: <secret key>`. Errors are JSON `{message, type, ...}`. Our "
                "extensions live under `/x/`."
            ),
        },
        "security": [{"XAuthToken": []}],
        "tags": [{"name": tag} for tag in TAGS],
        "paths": paths,
        "components": {
            "schemas": dict(COMPONENTS),
            "securitySchemes": {"XAuthToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
        },
    }


def __getattr__(name: str) -> Any:
    """`SCHEMAS`: the document's named schemas, once every declaring module is imported."""
    if name == "SCHEMAS":
        return document()["components"]["schemas"]
    raise AttributeError(name)


@require_safe
def openapi_document(request: HttpRequest) -> JsonResponse:
    """The document is public: it describes the API, it grants nothing."""
    return JsonResponse(document())
