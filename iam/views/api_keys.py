"""IAM ▸ API keys: the secret is shown once, on the page the creation redirects to.

POST, redirect, GET: the creating POST keeps the secret in the session (server-side, never in a
URL) and redirects; the page pops it on its first display, so a reload shows no secret and
creates no second key.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from audit.services import Actor
from iam import selectors, services
from iam.forms import APIKeyForm
from iam.http import ConsoleRequest
from iam.models import APIKey, Application, User
from iam.permissions import iam_method_required
from iam.tables import APIKeyTable
from iam.views._common import IAM_FORBIDDEN, _done, _may_write, _organization, _page, _refuse, _table

# Session key of the secrets created and not shown yet: {access key: secret}.
SESSION_NEW_SECRETS = "iam_api_key_secrets"


def _api_keys_page(request: ConsoleRequest, form: APIKeyForm | None = None) -> HttpResponse:
    organization = _organization(request)
    return _page(
        request,
        "iam/api_key_list.html",
        {
            "tab": "api_keys",
            "table": _table(request, APIKeyTable, selectors.api_key_list(organization=organization)),
            # The create form's choices cost two queries; the refreshed region does not show it.
            "form": None
            if request.htmx.target == "results"
            else form or APIKeyForm(organization=organization, user=request.user),
        },
    )


@require_safe
@login_required
@iam_method_required("ListAPIKeys", template_name=IAM_FORBIDDEN)
def api_key_list(request: ConsoleRequest) -> HttpResponse:
    return _api_keys_page(request)


@never_cache
@require_POST
@login_required
def api_key_create(request: ConsoleRequest) -> HttpResponse:
    """Create a key, keep its secret in the session for one display, and redirect to that display."""
    organization = _organization(request)
    if not _may_write(request):
        return _refuse(request, "CreateAPIKey")
    form = APIKeyForm(request.POST, organization=organization, user=request.user)
    if not form.is_valid():
        return _api_keys_page(request, form)
    bearer = form.cleaned_data["bearer"]
    key, secret_key = services.api_key_create(
        actor=Actor.from_request(request),
        organization=organization,
        user=bearer if isinstance(bearer, User) else None,
        application=bearer if isinstance(bearer, Application) else None,
        description=form.cleaned_data["description"],
        default_project=form.cleaned_data["default_project"],
        expires_at=form.cleaned_data["expires_at"],
    )
    request.session[SESSION_NEW_SECRETS] = {
        **request.session.get(SESSION_NEW_SECRETS, {}),
        key.access_key: secret_key,
    }
    return redirect("iam:api-key-created", access_key=key.access_key)


@never_cache
@require_safe
@login_required
@iam_method_required("GetAPIKey", template_name=IAM_FORBIDDEN)
def api_key_created(request: ConsoleRequest, access_key: str) -> HttpResponse:
    """The key just created, with its secret the first time only (popped from the session)."""
    key = get_object_or_404(
        APIKey.objects.select_related("user", "application", "default_project"),
        organization=_organization(request),
        access_key=access_key,
    )
    secrets = request.session.get(SESSION_NEW_SECRETS, {})
    secret_key = secrets.pop(key.access_key, None)
    if secret_key is not None:
        request.session[SESSION_NEW_SECRETS] = secrets
    response = render(
        request,
        "iam/api_key_created.html",
        {"tab": "api_keys", "nav": "iam", "key": key, "secret_key": secret_key},
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def api_key_delete(request: ConsoleRequest, access_key: str) -> HttpResponse:
    key = get_object_or_404(
        APIKey.objects.select_related("organization"),
        organization=_organization(request),
        access_key=access_key,
    )
    if not _may_write(request):
        return _refuse(request, "DeleteAPIKey", [services.api_key_resource(key)])
    access_key = key.access_key
    services.api_key_delete(actor=Actor.from_request(request), key=key)
    return _done(request, f"API key {access_key} deleted.", reverse("iam:api-keys"))
