from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.http import HttpRequest

from audit.services import record_request
from core.regions import region_or_default
from iam.models import Organization
from iam.signals import access_denied


@receiver(access_denied, dispatch_uid="audit_record_access_denied")
def record_refusal(
    sender: Any,
    *,
    request: HttpRequest,
    organization: Organization | None,
    product_name: str,
    service_name: str,
    method_name: str,
    locality: str | None,
    resources: list[dict[str, Any]],
    **kwargs: Any,
) -> None:
    """A refused action is part of the record: a 403 event, though nothing changed."""
    if organization is None:
        return
    record_request(
        request,
        organization=organization,
        product_name=product_name,
        service_name=service_name,
        method_name=method_name,
        locality=locality or region_or_default(request.GET.get("region")),
        status_code=403,
        resources=resources,
        request_body={
            k: v
            for k, v in (request.GET if request.method == "GET" else request.POST).items()
            if k != "csrfmiddlewaretoken"
        },
    )
