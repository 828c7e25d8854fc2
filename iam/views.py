from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event
from django_tables2 import RequestConfig

from audit.iam_logs import iam_log_events
from audit.models import AuthenticationEvent
from audit.selectors import Cursor
from audit.services import Actor, authentication_event_record
from iam import selectors, services
from iam.filters import IamLogFilter
from iam.forms import (
    APIKeyForm,
    ApplicationForm,
    GroupForm,
    GroupMemberForm,
    GroupMemberRemoveForm,
    InvitationAcceptForm,
    InviteForm,
    LoginForm,
    OrganizationSwitchForm,
    PolicyForm,
    TimeDisplayForm,
    rule_formset,
)
from iam.http import ConsoleRequest, client_ip
from iam.middleware import SESSION_ORGANIZATION, SESSION_TIME_DISPLAY
from iam.models import APIKey, Application, Group, Invitation, Membership, Organization, Policy, User
from iam.permissions import deny, permission_required, request_may
from iam.tables import (
    APIKeyTable,
    ApplicationTable,
    GroupTable,
    IamLogTable,
    InvitationTable,
    MemberTable,
    PolicyTable,
)

IAM_FORBIDDEN = "iam/403.html"
CHANGED = "iam-changed"  # the HX-Trigger event a list region reloads itself on
LOG_PAGE_SIZE = 50


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("home")


# --- sign-in, with its authentication events and throttling ------------------------------------------

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


# --- IAM console: shared plumbing -------------------------------------------------------------------


def iam_read(method: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Reading IAM needs `iam:read` (IAMReadOnly, IAMManager, OrganizationManager, or ownership)."""
    return permission_required("iam:read", method=method, template_name=IAM_FORBIDDEN)


def _organization(request: ConsoleRequest) -> Organization:
    if request.organization is None:
        raise Http404("You belong to no organization.")
    return request.organization


def _refuse(
    request: ConsoleRequest,
    method: str,
    resources: list[dict[str, Any]] | None = None,
    *,
    action: str = "iam:write",
) -> HttpResponse:
    """A refusal: recorded as a 403 event under the Scaleway method attempted, and a 403 page."""
    deny(request, action, method=method, resources=resources)
    return render(request, IAM_FORBIDDEN, {"action": action, "nav": "iam"}, status=403)


def _may_write(request: ConsoleRequest) -> bool:
    return request_may(request, "iam:write")


def _done(request: ConsoleRequest, message: str, url: str) -> HttpResponse:
    """After an action: htmx gets 204 + HX-Trigger (the region reloads itself); a plain form, a redirect."""
    if request.htmx:
        return trigger_client_event(HttpResponse(status=204), CHANGED)
    messages.success(request, message)
    return redirect(url)


def _page(
    request: ConsoleRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """The whole page, or only its `results` region when htmx asked for that region."""
    if request.htmx.target == "results" and request.method == "GET":
        template += "#results"
    context.setdefault("nav", "iam")
    context.setdefault("may_write", _may_write(request))
    response = render(request, template, context, status=status)
    response["Vary"] = "HX-Request, HX-Target, Cookie"
    return response


def _table(request: ConsoleRequest, table_class: type, data: Any, per_page: int = 50) -> Any:
    table = table_class(data)
    RequestConfig(request, paginate={"per_page": per_page}).configure(table)
    return table


# --- users and invitations ----------------------------------------------------------------------------


def _users_page(request: ConsoleRequest, form: InviteForm | None = None, status: int = 200) -> HttpResponse:
    organization = _organization(request)
    return _page(
        request,
        "iam/user_list.html",
        {
            "tab": "users",
            "table": _table(request, MemberTable, selectors.member_list(organization=organization)),
            "invitations": InvitationTable(selectors.invitation_list(organization=organization)),
            "form": form or InviteForm(),
        },
        status=status,
    )


@require_GET
@login_required
@iam_read("ListUsers")
def user_list(request: ConsoleRequest) -> HttpResponse:
    return _users_page(request)


@require_POST
@login_required
def user_invite(request: ConsoleRequest) -> HttpResponse:
    organization = _organization(request)
    if not _may_write(request):
        return _refuse(request, "CreateUser")
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            services.user_invite(
                actor=Actor.from_request(request),
                organization=organization,
                email=form.cleaned_data["email"],
                invited_by=request.user,
            )
        except services.IamError as error:
            form.add_error("email", str(error))
        else:
            return _done(request, f"Invitation sent to {form.cleaned_data['email']}.", reverse("iam:users"))
    return _users_page(request, form)


@require_POST
@login_required
def invitation_cancel(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    organization = _organization(request)
    invitation = get_object_or_404(
        Invitation, organization=organization, pk=pk, status=Invitation.Status.PENDING
    )
    if not _may_write(request):
        return _refuse(request, "DeleteUser", [{"type": "iam_user", "id": str(invitation.user_id)}])
    services.invitation_cancel(actor=Actor.from_request(request), invitation=invitation)
    return _done(request, f"Invitation to {invitation.email} cancelled.", reverse("iam:users"))


@require_POST
@login_required
def member_remove(request: ConsoleRequest, user_id: uuid.UUID) -> HttpResponse:
    organization = _organization(request)
    membership = get_object_or_404(
        Membership.objects.active().select_related("user", "organization"),
        organization=organization,
        user_id=user_id,
    )
    if not _may_write(request):
        return _refuse(request, "DeleteUser", [services.user_resource(membership.user)])
    try:
        services.member_remove(actor=Actor.from_request(request), membership=membership)
    except services.IamError as error:
        messages.error(request, str(error))
        return redirect("iam:users")
    return _done(
        request, f"{membership.user.email} was removed from {organization.name}.", reverse("iam:users")
    )


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_respond(request: HttpRequest, token: str) -> HttpResponse:
    """The e-mailed link: accept (choosing a password for a new account) or decline. The token is the proof."""
    invitation = services.invitation_for_token(token)
    if invitation is None:
        raise Http404("No such invitation.")
    user = invitation.user
    needs_password = user is not None and not user.has_usable_password()
    form = InvitationAcceptForm(user=user) if needs_password and user else None
    context: dict[str, Any] = {"invitation": invitation, "form": form, "needs_password": needs_password}
    if request.method == "POST" and invitation.is_open and user is not None:
        request_id = getattr(request, "request_id", "")
        if request.POST.get("decision") == "reject":
            services.invitation_reject(invitation=invitation, request_id=request_id)
            messages.info(request, f"You declined the invitation to {invitation.organization.name}.")
            return redirect("iam:invitation", token=token)
        if request.POST.get("decision") == "accept":
            if needs_password:
                form = InvitationAcceptForm(request.POST, user=user)
                context["form"] = form
                if not form.is_valid():
                    return render(request, "iam/invitation.html", context)
            elif not (request.user.is_authenticated and request.user.pk == user.pk):
                # An existing account proves itself by signing in first.
                return redirect(f"{reverse('login')}?next={request.path}")
            user = services.invitation_accept(
                invitation=invitation,
                password=form.cleaned_data["password1"] if form is not None else None,
                request_id=request_id,
            )
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_ORGANIZATION] = str(invitation.organization_id)
            messages.success(request, f"Welcome to {invitation.organization.name}.")
            return redirect("home")
    return render(request, "iam/invitation.html", context)


# --- applications ----------------------------------------------------------------------------------------


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


@require_GET
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


@require_http_methods(["GET", "POST"])
@login_required
def application_detail(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    """The application, and its rename form (POST = UpdateApplication)."""
    organization = _organization(request)
    application = get_object_or_404(Application, organization=organization, pk=pk)
    if request.method == "GET" and not request_may(request, "iam:read"):
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


# --- groups ----------------------------------------------------------------------------------------------


def _groups_page(request: ConsoleRequest, form: GroupForm | None = None) -> HttpResponse:
    organization = _organization(request)
    return _page(
        request,
        "iam/group_list.html",
        {
            "tab": "groups",
            "table": _table(request, GroupTable, selectors.group_list(organization=organization)),
            "form": form or GroupForm(),
        },
    )


@require_GET
@login_required
@iam_read("ListGroups")
def group_list(request: ConsoleRequest) -> HttpResponse:
    return _groups_page(request)


@require_POST
@login_required
def group_create(request: ConsoleRequest) -> HttpResponse:
    organization = _organization(request)
    if not _may_write(request):
        return _refuse(request, "CreateGroup")
    form = GroupForm(request.POST)
    if not form.is_valid():
        return _groups_page(request, form)
    group = services.group_create(
        actor=Actor.from_request(request), organization=organization, **form.cleaned_data
    )
    return _done(request, f"Group {group.name} created.", reverse("iam:groups"))


def _group_page(request: ConsoleRequest, group: Group, form: GroupMemberForm | None = None) -> HttpResponse:
    organization = _organization(request)
    return _page(
        request,
        "iam/group_detail.html",
        {
            "tab": "groups",
            "group": group,
            "users": group.users.order_by("email"),
            "applications": group.applications.order_by("name"),
            "form": form or GroupMemberForm(organization=organization),
        },
    )


@require_GET
@login_required
@iam_read("GetGroup")
def group_detail(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    group = get_object_or_404(Group, organization=_organization(request), pk=pk)
    return _group_page(request, group)


@require_POST
@login_required
def group_delete(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    group = get_object_or_404(
        Group.objects.select_related("organization"), organization=_organization(request), pk=pk
    )
    if not _may_write(request):
        return _refuse(request, "DeleteGroup", [services.group_resource(group)])
    services.group_delete(actor=Actor.from_request(request), group=group)
    return _done(request, f"Group {group.name} deleted.", reverse("iam:groups"))


@require_POST
@login_required
def group_member_add(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    organization = _organization(request)
    group = get_object_or_404(Group.objects.select_related("organization"), organization=organization, pk=pk)
    if not _may_write(request):
        return _refuse(request, "AddGroupMember", [services.group_resource(group)])
    form = GroupMemberForm(request.POST, organization=organization)
    if form.is_valid():
        try:
            services.group_member_add(
                actor=Actor.from_request(request), group=group, member=form.cleaned_data["member"]
            )
        except services.IamError as error:
            form.add_error("member", str(error))
        else:
            return _done(request, f"Member added to {group.name}.", reverse("iam:group", args=[group.pk]))
    return _group_page(request, group, form)


@require_POST
@login_required
def group_member_remove(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    organization = _organization(request)
    group = get_object_or_404(Group.objects.select_related("organization"), organization=organization, pk=pk)
    if not _may_write(request):
        return _refuse(request, "RemoveGroupMember", [services.group_resource(group)])
    form = GroupMemberRemoveForm(request.POST, organization=organization)
    if not form.is_valid():
        messages.error(request, "Choose a member of the group.")
        return redirect("iam:group", pk=group.pk)
    services.group_member_remove(
        actor=Actor.from_request(request), group=group, member=form.cleaned_data["member"]
    )
    return _done(request, f"Member removed from {group.name}.", reverse("iam:group", args=[group.pk]))


# --- policies ------------------------------------------------------------------------------------------


@require_GET
@login_required
@iam_read("ListPolicies")
def policy_list(request: ConsoleRequest) -> HttpResponse:
    organization = _organization(request)
    return _page(
        request,
        "iam/policy_list.html",
        {
            "tab": "policies",
            "table": _table(request, PolicyTable, selectors.policy_list(organization=organization)),
        },
    )


def _principal_value(policy: Policy) -> str:
    principal = policy.principal
    if principal is None:
        return ""
    return f"{type(principal).__name__.lower()}:{principal.pk}"


def _policy_form_page(
    request: ConsoleRequest, *, policy: Policy | None, form: PolicyForm, formset: Any, status: int = 200
) -> HttpResponse:
    return _page(
        request,
        "iam/policy_form.html",
        {"tab": "policies", "policy": policy, "form": form, "formset": formset},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@login_required
def policy_create(request: ConsoleRequest) -> HttpResponse:
    organization = _organization(request)
    if not _may_write(request):
        return _refuse(request, "CreatePolicy")
    form = PolicyForm(request.POST or None, organization=organization)
    formset = rule_formset(organization, request.POST or None)
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        try:
            policy = services.policy_create(
                actor=Actor.from_request(request),
                organization=organization,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                principal=form.cleaned_data["principal"],
                rules=formset.specs(),
            )
        except services.IamError as error:
            form.add_error(None, str(error))
        else:
            return _done(request, f"Policy {policy.name} created.", reverse("iam:policies"))
    return _policy_form_page(request, policy=None, form=form, formset=formset)


@require_http_methods(["GET", "POST"])
@login_required
def policy_detail(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    """The policy and its rules; an IAM writer edits them here (POST = UpdatePolicy)."""
    organization = _organization(request)
    policy = get_object_or_404(
        Policy.objects.select_related("user", "group", "application", "organization"),
        organization=organization,
        pk=pk,
    )
    if request.method == "GET" and not request_may(request, "iam:read"):
        return _refuse(request, "GetPolicy", [services.policy_resource(policy)], action="iam:read")
    if request.method == "POST":
        if not _may_write(request):
            return _refuse(request, "UpdatePolicy", [services.policy_resource(policy)])
        form = PolicyForm(request.POST, organization=organization)
        formset = rule_formset(organization, request.POST)
        if form.is_valid() and formset.is_valid():
            try:
                services.policy_update(
                    actor=Actor.from_request(request),
                    policy=policy,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    principal=form.cleaned_data["principal"],
                    rules=formset.specs(),
                )
            except services.IamError as error:
                form.add_error(None, str(error))
            else:
                return _done(request, f"Policy {policy.name} saved.", reverse("iam:policies"))
        return _policy_form_page(request, policy=policy, form=form, formset=formset)
    form = PolicyForm(
        initial={
            "name": policy.name,
            "description": policy.description,
            "principal": _principal_value(policy),
        },
        organization=organization,
    )
    initial = [
        {
            "permission_set_names": rule.permission_set_names,
            "scope": rule.scope_type,
            "project_ids": [str(p) for p in rule.project_ids],
        }
        for rule in policy.rules.order_by("pk")
    ]
    return _policy_form_page(
        request, policy=policy, form=form, formset=rule_formset(organization, initial=initial)
    )


@require_POST
@login_required
def policy_delete(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    policy = get_object_or_404(
        Policy.objects.select_related("organization"), organization=_organization(request), pk=pk
    )
    if not _may_write(request):
        return _refuse(request, "DeletePolicy", [services.policy_resource(policy)])
    services.policy_delete(actor=Actor.from_request(request), policy=policy)
    return _done(request, f"Policy {policy.name} deleted.", reverse("iam:policies"))


# --- API keys ------------------------------------------------------------------------------------------


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


@require_GET
@login_required
@iam_read("ListAPIKeys")
def api_key_list(request: ConsoleRequest) -> HttpResponse:
    return _api_keys_page(request)


@never_cache
@require_POST
@login_required
def api_key_create(request: ConsoleRequest) -> HttpResponse:
    """Create a key and show its secret, once: in this response only, never stored, never redirected."""
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


# --- IAM logs ------------------------------------------------------------------------------------------


def _cursor(request: HttpRequest) -> Cursor | None:
    token = request.GET.get("cursor") or ""
    if not token:
        return None
    try:
        return Cursor.decode(token)
    except ValueError:
        return None  # a stale or forged cursor: start from the first page


@require_GET
@login_required
@permission_required("iam:logs", method="ListLogs", template_name=IAM_FORBIDDEN)
@vary_on_headers("HX-Request", "HX-Target")
def log_list(request: ConsoleRequest) -> HttpResponse:
    """IAM ▸ Logs: one keyset page of entries, newest first unless `sort=created_at`."""
    organization = _organization(request)
    ascending = request.GET.get("sort") == "created_at"
    log_filter = IamLogFilter(request.GET or None, queryset=iam_log_events(organization_id=organization.pk))
    # Invalid fields show their errors and are left out; the valid ones still apply.
    events = log_filter.qs
    rows, page = selectors.iam_log_page(
        organization=organization,
        events=events,
        may_see_principals=request_may(request, "iam:read"),
        ascending=ascending,
        cursor=_cursor(request),
        page_size=LOG_PAGE_SIZE,
    )
    table = IamLogTable(rows)
    params = request.GET.copy()
    params.pop("cursor", None)

    def link(**changes: str | None) -> str:
        query = params.copy()
        for key, value in changes.items():
            query.pop(key, None)
            if value:
                query[key] = value
        return f"?{query.urlencode()}" if query else "?"

    table.ascending = ascending  # the table template renders the Date header's sort toggle
    table.sort_url = link(sort=None if ascending else "created_at")
    context = {
        "tab": "logs",
        "filter": log_filter,
        "table": table,
        "rows": rows,
        "ascending": ascending,
        "newer_url": link(cursor=page.previous_cursor.encode()) if page.previous_cursor else None,
        "older_url": link(cursor=page.next_cursor.encode()) if page.next_cursor else None,
        "may_see_principals": request_may(request, "iam:read"),
    }
    return _page(request, "iam/log_list.html", context)


@require_GET
@login_required
@permission_required("iam:logs", method="GetLog", template_name=IAM_FORBIDDEN)
@vary_on_headers("HX-Request", "HX-Target")
def log_detail(request: ConsoleRequest, pk: uuid.UUID) -> HttpResponse:
    """One entry's "More info": user agent and IP. The popup's body for htmx, a page otherwise."""
    organization = _organization(request)
    event = selectors.iam_log_get(
        organization=organization, log_id=pk, events=iam_log_events(organization_id=organization.pk)
    )
    if event is None:
        raise Http404("No such log entry.")
    (row,) = selectors.log_rows(
        organization=organization, events=[event], may_see_principals=request_may(request, "iam:read")
    )
    template = "iam/log_detail.html"
    if request.htmx.target == "log-dialog-body":
        template += "#detail"
    return render(request, template, {"tab": "logs", "nav": "iam", "row": row})
