"""The console's Integrity tab (latest signed head, its history, the last verify_trail) and an event's
integrity proof, which the Events drawer loads on demand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers

from audit.models import Event
from audit.services import Actor
from core.regions import REGION_CHOICES, region_or_default
from iam.http import ConsoleRequest
from iam.permissions import forbidden, permission_required, request_may
from integrity import retention, services
from integrity.forms import RetentionForm
from integrity.models import Checkpoint, TreeHead, TreeState, VerificationRun

HISTORY = 20


def head_time(head: TreeHead) -> datetime:
    return datetime.fromtimestamp(head.timestamp_ms / 1000, tz=UTC)


RETENTION_ACTION = "audit_trail:retention"  # the organization's owner only (iam.permission_sets)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@permission_required("audit_trail:read", method="GetSignedTreeHead")
def page(request: ConsoleRequest) -> HttpResponse:
    """The organization's latest signed head, the ones before it, the last verify_trail run, and its
    retention. POST (the organization's owner only): change the retention or the legal hold, each
    change recorded in the trail. Cost: two indexed queries (heads newest first, the last run)."""
    organization = request.organization
    assert organization is not None  # permission_required guarantees it
    region = region_or_default(request.GET.get("region"))
    is_owner = request_may(request, RETENTION_ACTION)
    policy = retention.policy(organization.pk)
    form = RetentionForm(initial={"days": policy.days, "legal_hold": policy.legal_hold})
    if request.method == "POST":
        if not is_owner:
            return forbidden(request, RETENTION_ACTION, method="UpdateRetention")
        form = RetentionForm(request.POST)
        if form.is_valid():
            actor = Actor.from_request(request)
            data = form.cleaned_data
            retention.set_retention(organization.pk, data["days"], actor=actor, locality=region)
            retention.set_legal_hold(
                organization.pk, hold=data["legal_hold"], actor=actor, reason=data["reason"], locality=region
            )
            messages.success(request, "Retention saved.")
            return HttpResponseRedirect(f"{reverse('integrity:page')}?region={region}")
    heads = list(TreeHead.objects.filter(organization_id=organization.pk).order_by("-tree_size")[:HISTORY])
    run = VerificationRun.objects.filter(organization_id=organization.pk).order_by("-finished_at").first()
    context: dict[str, Any] = {
        "tab": "integrity",
        "region": region,
        "region_choices": REGION_CHOICES,
        "heads": [{"head": h, "at": head_time(h), "root": bytes(h.root_hash).hex()} for h in heads],
        "run": run,
        "seal_interval": settings.INTEGRITY_SEAL_INTERVAL,
        "policy": policy,
        "is_owner": is_owner,
        "form": form,
        "checkpoints": Checkpoint.objects.filter(organization_id=organization.pk).order_by("-cut")[:HISTORY],
    }
    return render(request, "integrity/page.html", context, status=400 if form.errors else 200)


@require_safe
@login_required
@permission_required("audit_trail:read", method="GetInclusionProof")
@vary_on_headers("HX-Request", "HX-Target")
def event_proof(request: ConsoleRequest, event_id: uuid.UUID) -> HttpResponse:
    """One event's seal: "Verified" against the latest head (its leaf recomputed from the event as
    stored, the audit path, the head's signature), or "Not yet sealed" and by when it will be. The
    drawer loads the `status` region; the page shows the proof too. Cost: a few indexed queries,
    whatever the tree's size (`services.event_status`)."""
    organization = request.organization
    assert organization is not None  # permission_required guarantees it
    event = Event.objects.filter(organization_id=organization.pk, id=event_id).first()
    if event is None:
        raise Http404("No such event.")
    status = services.event_status(organization.pk, event)
    state = TreeState.objects.filter(organization_id=organization.pk).first()
    context = {
        "event": event,
        "status": status,
        "head_at": head_time(status.head) if status.head is not None else None,
        "swept_at": state.swept_at if state is not None else None,
        "seal_interval": settings.INTEGRITY_SEAL_INTERVAL,
    }
    template = "integrity/event.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#status"
    return render(request, template, context)
