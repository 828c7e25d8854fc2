from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from iam.forms import LoginForm, OrganizationSwitchForm, TimeDisplayForm
from iam.http import ConsoleRequest
from iam.middleware import SESSION_ORGANIZATION, SESSION_TIME_DISPLAY


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("home")


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@require_GET
@login_required
def home(request: ConsoleRequest) -> HttpResponse:
    return redirect("audit:events")


@require_POST
@login_required
def organization_switch(request: ConsoleRequest) -> HttpResponse:
    form = OrganizationSwitchForm(request.POST)
    if form.is_valid():
        chosen = str(form.cleaned_data["organization"])
        if any(str(o.pk) == chosen for o in request.organizations):  # type: ignore[attr-defined]
            request.session[SESSION_ORGANIZATION] = chosen
    # A filtered list from one organization means nothing in another: land on the page itself.
    target = _safe_next(request, form.data.get("next"))
    return HttpResponseRedirect(target.split("?")[0])


@require_POST
@login_required
def time_display(request: ConsoleRequest) -> HttpResponse:
    form = TimeDisplayForm(request.POST)
    if form.is_valid():
        request.session[SESSION_TIME_DISPLAY] = form.cleaned_data["time_display"]
    return HttpResponseRedirect(_safe_next(request, form.data.get("next")))
