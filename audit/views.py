from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from iam.http import ConsoleRequest
from iam.permissions import permission_required


@require_GET
@login_required
@permission_required("audit_trail:read", method="ListEvents")
def event_list(request: ConsoleRequest) -> HttpResponse:
    return render(request, "audit/event_list.html", {"nav": "audit"})
