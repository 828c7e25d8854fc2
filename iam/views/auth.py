"""Signing in, with its authentication events and throttle; the header's organization and time switches."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from audit.models import AuthenticationEvent
from audit.services import record_authentication
from core.http import client_ip
from iam import throttle
from iam.forms import LoginForm, OrganizationSwitchForm, TimeDisplayForm
from iam.http import ConsoleRequest
from iam.middleware import SESSION_ORGANIZATION, SESSION_TIME_DISPLAY
from iam.models import Membership, Organization, User
from iam.navigation import landing_url


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("home")


LOGIN_FAILURE_WINDOW = 15 * 60  # seconds
# Per account *and* address: an attacker elsewhere cannot lock the account's owner out.
LOGIN_MAX_FAILURES_PER_EMAIL = 5
LOGIN_MAX_FAILURES_PER_IP = 20  # whatever the accounts tried from one address


@dataclass(frozen=True)
class LoginAttempt:
    """One log-in attempt, already counted against its throttles (see iam.throttle)."""

    account_key: str
    ip_key: str
    throttled: bool

    @classmethod
    def count(cls, request: HttpRequest, email: str) -> LoginAttempt:
        ip = client_ip(request) or "-"
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()  # bounded, key-safe
        account_key, ip_key = f"login-attempts:{account}:{ip}", f"login-attempts:ip:{ip}"
        attempts = throttle.hit(account_key, window=LOGIN_FAILURE_WINDOW)
        from_ip = throttle.hit(ip_key, window=LOGIN_FAILURE_WINDOW)
        throttled = attempts > LOGIN_MAX_FAILURES_PER_EMAIL or from_ip > LOGIN_MAX_FAILURES_PER_IP
        return cls(account_key, ip_key, throttled)

    def succeeded(self) -> None:
        """A success clears the account's count here and does not count against the address."""
        throttle.clear(self.account_key)
        throttle.give_back(self.ip_key)


def _organization_ids(user: User | None) -> list[uuid.UUID | None]:
    """An authentication event is filed under each organization the user is in (or none)."""
    if user is None:
        return [None]
    ids = set(Organization.objects.filter(owner=user).values_list("pk", flat=True))
    ids |= set(Membership.objects.active().filter(user=user).values_list("organization_id", flat=True))
    return sorted(ids, key=str) or [None]


def _record_login(
    request: HttpRequest, *, email: str, user: User | None, result: str, reason: str = ""
) -> None:
    for organization_id in _organization_ids(user):
        record_authentication(
            request=request,
            email=email,
            result=result,
            user=user,
            organization_id=organization_id,
            failure_reason=reason,
        )


if TYPE_CHECKING:
    DjangoLoginView = auth_views.LoginView[LoginForm]
else:  # generic in django-stubs only: Django's class takes no subscript at run time
    DjangoLoginView = auth_views.LoginView


class LoginView(DjangoLoginView):
    """Django's login, plus an authentication event per attempt and a throttle on repeated failures.

    Five attempts for one e-mail from one address (or twenty from one address, whatever the
    e-mails) within 15 minutes, none of them a success, lock further attempts from that address
    out for the rest of that window; each locked-out attempt is answered 429 and recorded as
    "throttled". The same e-mail from another address is not affected.
    """

    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    attempt: LoginAttempt | None = None

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.attempt = LoginAttempt.count(request, request.POST.get("username", "")[:254])
        return super().post(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["throttled"] = self.attempt is not None and self.attempt.throttled
        return kwargs

    def form_valid(self, form: LoginForm) -> HttpResponse:
        user = form.get_user()
        _record_login(self.request, email=user.email, user=user, result=AuthenticationEvent.Result.SUCCESS)
        if self.attempt is not None:
            self.attempt.succeeded()
        return super().form_valid(form)

    def form_invalid(self, form: LoginForm) -> HttpResponse:
        email = (form.data.get("username") or "")[:254]
        user = User.objects.filter(email__iexact=email).first() if email else None
        if form.throttled:
            reason = AuthenticationEvent.FailureReason.THROTTLED
        elif user is not None:
            reason = AuthenticationEvent.FailureReason.INVALID_PASSWORD
        else:
            reason = AuthenticationEvent.FailureReason.UNKNOWN_USER
        _record_login(
            self.request, email=email, user=user, result=AuthenticationEvent.Result.FAILURE, reason=reason
        )
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
        return response


@require_safe
@login_required
def home(request: ConsoleRequest) -> HttpResponse:
    """Where signing in lands: the first page the user may use, or a page saying there is none."""
    url = landing_url(request)
    return redirect(url) if url else render(request, "iam/no_access.html")


@require_POST
@login_required
def organization_switch(request: ConsoleRequest) -> HttpResponse:
    form = OrganizationSwitchForm(request.POST)
    if form.is_valid():
        chosen = str(form.cleaned_data["organization"])
        if any(str(o.pk) == chosen for o in request.organizations):
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
