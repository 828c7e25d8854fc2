"""Signing in, with its authentication events and throttle; the header's organization and time switches."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from audit.models import AuthenticationEvent
from audit.services import authentication_event_record
from iam.forms import LoginForm, OrganizationSwitchForm, TimeDisplayForm
from iam.http import ConsoleRequest, client_ip
from iam.middleware import SESSION_ORGANIZATION, SESSION_TIME_DISPLAY
from iam.models import Membership, Organization, User


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("home")


LOGIN_FAILURE_WINDOW = 15 * 60  # seconds
LOGIN_MAX_FAILURES_PER_EMAIL = 5
LOGIN_MAX_FAILURES_PER_IP = 20
THROTTLED_MESSAGE = "Too many failed log-in attempts. Wait 15 minutes before trying again."


def _failure_keys(request: HttpRequest, email: str) -> tuple[str, str]:
    return f"login-failures:email:{email.strip().lower()}", f"login-failures:ip:{client_ip(request) or '-'}"


def _organization_ids(user: User | None) -> list[uuid.UUID | None]:
    """An authentication event is filed under each organization the user is in (or none)."""
    if user is None:
        return [None]
    ids = set(Organization.objects.filter(owner=user).values_list("pk", flat=True))
    ids |= set(Membership.objects.active().filter(user=user).values_list("organization_id", flat=True))
    return sorted(ids, key=str) or [None]  # type: ignore[return-value]


def _record_login(
    request: HttpRequest, *, email: str, user: User | None, result: str, reason: str = ""
) -> None:
    for organization_id in _organization_ids(user):
        authentication_event_record(
            request=request,
            email=email,
            result=result,
            user=user,
            organization_id=organization_id,
            failure_reason=reason,
        )


class LoginView(auth_views.LoginView):
    """Django's login, plus an authentication event per attempt and a throttle on repeated failures.

    Five failures for one e-mail (or twenty from one address) within 15 minutes lock further
    attempts out for the rest of that window; each locked-out attempt is recorded as "throttled".
    """

    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        email = request.POST.get("username", "")[:254]
        email_key, ip_key = _failure_keys(request, email)
        if (cache.get(email_key) or 0) >= LOGIN_MAX_FAILURES_PER_EMAIL or (
            cache.get(ip_key) or 0
        ) >= LOGIN_MAX_FAILURES_PER_IP:
            user = User.objects.filter(email__iexact=email).first() if email else None
            _record_login(
                request,
                email=email,
                user=user,
                result=AuthenticationEvent.Result.FAILURE,
                reason=AuthenticationEvent.FailureReason.THROTTLED,
            )
            form = self.get_form()
            form.is_valid = lambda: False  # type: ignore[method-assign]
            form.errors.clear()
            form.add_error(None, THROTTLED_MESSAGE)
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: LoginForm) -> HttpResponse:
        user = form.get_user()
        _record_login(self.request, email=user.email, user=user, result=AuthenticationEvent.Result.SUCCESS)
        cache.delete(_failure_keys(self.request, user.email)[0])
        return super().form_valid(form)

    def form_invalid(self, form: LoginForm) -> HttpResponse:
        email = (form.data.get("username") or "")[:254]
        user = User.objects.filter(email__iexact=email).first() if email else None
        reason = (
            AuthenticationEvent.FailureReason.INVALID_PASSWORD
            if user is not None
            else AuthenticationEvent.FailureReason.UNKNOWN_USER
        )
        _record_login(
            self.request, email=email, user=user, result=AuthenticationEvent.Result.FAILURE, reason=reason
        )
        for key in _failure_keys(self.request, email):
            cache.add(key, 0, LOGIN_FAILURE_WINDOW)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, LOGIN_FAILURE_WINDOW)
        return super().form_invalid(form)


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
