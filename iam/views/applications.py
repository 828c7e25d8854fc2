"""IAM ▸ Applications."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from audit.services import Actor
from iam import selectors, services
from iam.forms import ApplicationForm
from iam.http import ConsoleRequest
from iam.models import Application
from iam.permissions import request_may
from iam.tables import ApplicationTable
from iam.views._common import _done, _may_write, _organization, _page, _refuse, _table, iam_read


def _applications_page(request: ConsoleRequest, form: ApplicationForm | None = None) -> HttpResponse:
    organization = _organization(request)
    return _page(
        request,
        "iam/application_list.html",
        {
            "tab": "applications",
            "table": _table(request, ApplicationTable, selectors.application_list(organization=organization)),
            "form": form or ApplicationForm(),
        },
    )


@require_safe
@login_required
@iam_read("ListApplications")
def application_list(request: ConsoleRequest) -> HttpResponse:
    return _applications_page(request)


@require_POST
@login_required
def application_create(request: ConsoleRequest) -> HttpResponse:
    organization = _organization(request)
    if not _may_write(request):
        return _refuse(request, "CreateApplication")
    form = ApplicationForm(request.POST)
    if not form.is_valid():
        return _applications_page(request, form)
    application = services.application_create(
        actor=Actor.from_request(request), organization=organization, **form.cleaned_data
    )
    return _done(request, f"Application {application.name} created.", reverse("iam:applications"))


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def application_detail(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    """The application, and its rename form (POST = UpdateApplication)."""
    organization = _organization(request)
    application = get_object_or_404(Application, organization=organization, pk=pk)
    if request.method != "POST" and not request_may(request, "iam:read"):
        return _refuse(
            request, "GetApplication", [services.application_resource(application)], action="iam:read"
        )
    form = ApplicationForm(initial={"name": application.name, "description": application.description})
    if request.method == "POST":
        if not _may_write(request):
            return _refuse(request, "UpdateApplication", [services.application_resource(application)])
        form = ApplicationForm(request.POST)
        if form.is_valid():
            services.application_update(
                actor=Actor.from_request(request), application=application, **form.cleaned_data
            )
            return _done(request, f"Application {application.name} saved.", reverse("iam:applications"))
    keys = selectors.api_key_list(organization=organization).filter(application=application)
    return _page(
        request,
        "iam/application_detail.html",
        {"tab": "applications", "application": application, "form": form, "api_keys": keys},
    )


@require_POST
@login_required
def application_delete(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    organization = _organization(request)
    application = get_object_or_404(Application, organization=organization, pk=pk)
    if not _may_write(request):
        return _refuse(request, "DeleteApplication", [services.application_resource(application)])
    services.application_delete(actor=Actor.from_request(request), application=application)
    return _done(request, f"Application {application.name} deleted.", reverse("iam:applications"))
