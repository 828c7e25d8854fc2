"""Integrity proofs (an extension, under /x/): the latest signed tree head of the key's organization,
an event's inclusion proof against a head, a consistency proof between two heads, and the public
keys that sign heads. Hashes and signatures are lowercase hex; docs/integrity.md says how to check
them, and `python -m integrity.verify` does it without us."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from api.declare import Args, PathParam, Query, component, operation
from api.http import not_found
from api.schemas import INTEGER, UUID, Schema, array, closed
from audit.models import Event
from core.regions import DEFAULT_REGION
from iam.http import ApiRequest
from integrity import services
from integrity.models import TreeHead

TAG = "Integrity (extension)"
READ = "audit_trail:read"
MAX_SIZE = 2**62

HEX32: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
SIGNED_HEAD = component(
    "SignedTreeHead",
    closed(
        {
            "organization_id": UUID,
            "tree_size": INTEGER,
            "root_hash": HEX32,
            "timestamp_ms": INTEGER,
            "key_id": HEX32,
            "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
        },
        required=["organization_id", "tree_size", "root_hash", "timestamp_ms", "key_id", "signature"],
    ),
)
INCLUSION_PROOF = component(
    "InclusionProof",
    closed(
        {
            "event": {"type": "object", "description": "The event's canonical document (docs/integrity.md)."},
            "leaf_index": INTEGER,
            "leaf_hash": HEX32,
            "audit_path": array(HEX32),
            "head": SIGNED_HEAD,
        },
        required=["event", "leaf_index", "leaf_hash", "audit_path", "head"],
    ),
)
CONSISTENCY_PROOF = component(
    "ConsistencyProof",
    closed(
        {"first": SIGNED_HEAD, "second": SIGNED_HEAD, "consistency_path": array(HEX32)},
        required=["first", "second", "consistency_path"],
    ),
)
TREE_SIZE_HELP = "The size of a signed head of the organization. Default: the latest head."


def _head(organization_id: uuid.UUID, tree_size: int | None) -> TreeHead:
    """The head of that size (the latest when None); not_found when the organization has none."""
    head = (
        services.latest_head(organization_id)
        if tree_size is None
        else services.head_of_size(organization_id, tree_size)
    )
    if head is None:
        raise not_found("signed_tree_head", "latest" if tree_size is None else str(tree_size))
    return head


@operation(
    "GET",
    "GetSignedTreeHead",
    summary="The latest signed tree head of the organization's trail",
    tag=TAG,
    action=READ,
    locality=DEFAULT_REGION,
    response=SIGNED_HEAD,
    description="not_found until the organization's first events are sealed.",
)
def get_signed_tree_head(request: ApiRequest, args: Args) -> HttpResponse:
    return JsonResponse(services.head_json(_head(request.organization.pk, None)))


@operation(
    "GET",
    "GetInclusionProof",
    summary="An event's inclusion proof (RFC 9162 audit path) against a signed tree head",
    tag=TAG,
    action=READ,
    locality=DEFAULT_REGION,
    path=[PathParam("event_id", UUID)],
    query=[Query.integer("tree_size", minimum=1, maximum=MAX_SIZE, description=TREE_SIZE_HELP)],
    response=INCLUSION_PROOF,
    description=(
        "not_found for an event of another organization, one not yet sealed in that head, or a "
        "tree_size no signed head has."
    ),
)
def get_inclusion_proof(request: ApiRequest, args: Args, event_id: str) -> HttpResponse:
    """Cost: reads the head's leaf hashes (32 bytes a leaf) and one event."""
    try:
        pk = uuid.UUID(event_id)
    except ValueError:
        raise not_found("event", event_id) from None
    organization_id = request.organization.pk
    event = Event.objects.filter(organization_id=organization_id, id=pk).first()
    if event is None:
        raise not_found("event", event_id)
    head = _head(organization_id, args["tree_size"])
    proof = services.inclusion_proof(organization_id, pk, head)
    if proof is None:
        raise not_found("event", event_id)
    return JsonResponse(
        {
            "event": services.event_document(event),
            "leaf_index": proof.leaf.index,
            "leaf_hash": bytes(proof.leaf.hash).hex(),
            "audit_path": [h.hex() for h in proof.path],
            "head": services.head_json(proof.head),
        }
    )


@operation(
    "GET",
    "GetConsistencyProof",
    summary="A consistency proof (RFC 9162) between two signed tree heads",
    tag=TAG,
    action=READ,
    locality=DEFAULT_REGION,
    query=[
        Query.integer(
            "first",
            minimum=1,
            maximum=MAX_SIZE,
            description="The older head's tree size. Default: the first head.",
        ),
        Query.integer("second", minimum=1, maximum=MAX_SIZE, description=TREE_SIZE_HELP),
    ],
    response=CONSISTENCY_PROOF,
    description="The two heads in either order (the proof runs from the smaller); not_found for a size no head has.",
)
def get_consistency_proof(request: ApiRequest, args: Args) -> HttpResponse:
    """Cost: reads the second head's leaf hashes (32 bytes a leaf)."""
    organization_id = request.organization.pk
    second = _head(organization_id, args["second"])
    first = _head(organization_id, args["first"]) if args["first"] is not None else None
    if first is None:
        first = (
            TreeHead.objects.filter(organization_id=organization_id).order_by("tree_size").first() or second
        )
    if first.tree_size > second.tree_size:  # the heads in either order: the proof runs older to newer
        first, second = second, first
    proof = services.consistency_proof(organization_id, first, second)
    return JsonResponse(
        {
            "first": services.head_json(first),
            "second": services.head_json(second),
            "consistency_path": [h.hex() for h in proof],
        }
    )


@require_safe
def public_keys(request: HttpRequest) -> JsonResponse:
    """Public by design: the keys that sign tree heads, by key id, every one that ever signed."""
    return JsonResponse({"keys": services.public_keys_json()})
