"""The Alerting Management tab (per region), custom rules with their backtest, and contacts."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from alerts import selectors, services
from alerts.forms import (
    AlertRulesForm,
    ContactTypesForm,
    CustomAlertRuleForm,
    NotificationContactForm,
    RegionForm,
)
from alerts.models import NotificationContact
from alerts.rules import CEL_VARIABLES, CelRule, compile_expression
from alerts.tables import AlertTable
from audit.services import Actor
from core.paging import paginate_table
from core.regions import REGION_CHOICES, REGION_NAMES
from iam.http import ConsoleRequest
from iam.permissions import forbidden, permission_required, request_may

ALERTS_PER_PAGE = 20


def _region(request: ConsoleRequest) -> str:
    return RegionForm(request.GET).region_or_default()


def _management_url(region: str) -> str:
    return f"{reverse('alerts:management')}?region={region}"


def _refuse(request: ConsoleRequest, action: str, method: str) -> HttpResponse:
    return forbidden(request, action, method=method)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@permission_required("audit_trail:read", method="ListAlertRules")
@vary_on_headers("HX-Request", "HX-Target")
def management(request: ConsoleRequest) -> HttpResponse:
    """GET: the rules of the region and the fired alerts. POST: "Save changes" (all the rules)."""
    organization = request.organization
    assert organization is not None  # permission_required let us in
    region = _region(request)
    can_write = request_may(request, "audit_trail:write")
    states = selectors.alert_rule_states(organization=organization, region=region)
    custom_rules = list(selectors.custom_alert_rule_list(organization=organization, region=region))

    if request.method == "POST":
        if not can_write:
            return _refuse(request, "audit_trail:write", "SetEnabledAlertRules")
        form = AlertRulesForm(request.POST, states=states, custom_rules=custom_rules)
        if form.is_valid():
            actor = Actor.from_request(request)
            if not form.changed_data:
                messages.info(request, "There was nothing to change.")
            if form.preconfigured_changed():
                services.alert_rule_set_enabled(
                    actor=actor,
                    organization=organization,
                    region=region,
                    enabled_alert_rule_ids=form.enabled_rule_ids(),
                )
            if form.custom_changed():
                services.custom_alert_rule_set_enabled(
                    actor=actor,
                    organization=organization,
                    region=region,
                    enabled_custom_alert_rule_ids=form.enabled_custom_rule_ids(),
                )
            if form.changed_data:
                messages.success(request, f"Your changes have been saved for {region}.")
            return HttpResponseRedirect(_management_url(region))
    else:
        form = AlertRulesForm(states=states, custom_rules=custom_rules)

    # Rules are set per region and each starts with all of them off: say so, and where they are on.
    nothing_active = not any(state.active for state in states) and not any(r.enabled for r in custom_rules)
    active_elsewhere = (
        sorted(selectors.active_alert_rule_counts(organization=organization).items())
        if nothing_active
        else []
    )
    table = AlertTable(selectors.alert_list(organization=organization, region=region))
    paginate_table(request, table, per_page=ALERTS_PER_PAGE)
    template = "alerts/management.html"
    if request.htmx.target == "fired-alerts":
        template += "#fired-alerts"
    return render(
        request,
        template,
        {
            "nav": "audit",
            "tab": "alerting",
            "region": region,
            "region_name": REGION_NAMES.get(region, region),
            "region_choices": REGION_CHOICES,
            "form": form,
            "can_write": can_write,
            "table": table,
            "nothing_active": nothing_active,
            "active_elsewhere": active_elsewhere,
        },
    )


def _backtest_context(form: CustomAlertRuleForm, request: ConsoleRequest, region: str) -> dict[str, object]:
    """Validate the expression part of the form and, when it is good, backtest it."""
    if not form.is_bound:
        return {}
    query = form.data.get("query", "")
    try:
        program = compile_expression(query)
        occurrences = max(1, min(int(form.data.get("occurrences") or 1), 100_000))
        window = int(form.data.get("evaluation_window") or 300)
    except ValueError as exc:  # ExpressionError is a ValueError, as is a non-number
        return {"backtest_error": str(exc)}
    rule = CelRule(
        key="backtest",
        name=form.data.get("name") or "this rule",
        description="",
        severity="info",
        program=program,
        occurrences=occurrences,
        window=timedelta(seconds=max(60, min(window, 86400))),
    )
    assert request.organization is not None
    return {
        "backtest": selectors.custom_rule_backtest(
            organization=request.organization, region=region, rule=rule
        )
    }


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@permission_required("audit_trail:read", method="ListCustomAlertRules")
def custom_rule_create(request: ConsoleRequest) -> HttpResponse:
    """The custom rule form. "Run backtest" re-renders it with the count; "Create rule" saves."""
    organization = request.organization
    assert organization is not None
    region = _region(request)
    if not request_may(request, "audit_trail:write"):
        return _refuse(request, "audit_trail:write", "CreateCustomAlertRule")
    form = CustomAlertRuleForm(request.POST or None, organization=organization, region=region)
    context: dict[str, object] = {}
    if request.method == "POST":
        if request.POST.get("action") == "backtest":
            context = _backtest_context(form, request, region)
            if request.htmx.target == "backtest":
                return render(
                    request,
                    "alerts/custom_rule_form.html#backtest",
                    {**context, "region": region, "oob": True},
                )
        elif form.is_valid():
            rule = services.custom_alert_rule_create(
                actor=Actor.from_request(request),
                organization=organization,
                region=region,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                query=form.cleaned_data["query"],
                occurrences=form.cleaned_data["occurrences"],
                evaluation_window=form.window,
                severity=form.cleaned_data["severity"],
                enabled=form.cleaned_data["enabled"],
            )
            messages.success(request, f"Custom rule {rule.name} created in {region}.")
            return HttpResponseRedirect(_management_url(region))
        else:
            context = _backtest_context(form, request, region)
    return render(
        request,
        "alerts/custom_rule_form.html",
        {
            "nav": "audit",
            "tab": "alerting",
            "region": region,
            "region_name": REGION_NAMES.get(region, region),
            "region_choices": REGION_CHOICES,
            "form": form,
            "variables": CEL_VARIABLES,
            **context,
        },
    )


@require_POST
@login_required
@permission_required("audit_trail:write", method="DeleteCustomAlertRule")
def custom_rule_delete(request: ConsoleRequest, rule_id: uuid.UUID) -> HttpResponse:
    organization = request.organization
    assert organization is not None
    rule = selectors.custom_alert_rule_get(organization=organization, rule_id=rule_id)
    if rule is None:
        raise Http404("No such custom rule.")
    region = rule.region
    services.custom_alert_rule_delete(actor=Actor.from_request(request), rule=rule)
    messages.success(request, f"Custom rule {rule.name} deleted.")
    return HttpResponseRedirect(_management_url(region))


# --- notification contacts -------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@permission_required("contacts:read", method="ListContacts")
def contacts(request: ConsoleRequest) -> HttpResponse:
    """The organization's notification contacts; POST adds one."""
    organization = request.organization
    assert organization is not None
    can_write = request_may(request, "contacts:write")
    form = NotificationContactForm(organization=organization)
    if request.method == "POST":
        if not can_write:
            return _refuse(request, "contacts:write", "CreateContact")
        form = NotificationContactForm(request.POST, organization=organization)
        if form.is_valid():
            contact = services.notification_contact_create(
                actor=Actor.from_request(request),
                organization=organization,
                email=form.cleaned_data["email"],
                types=form.cleaned_data["types"],
            )
            messages.success(request, f"{contact.email} added.")
            return HttpResponseRedirect(reverse("alerts:contacts"))
    contact_list = list(selectors.notification_contact_list(organization=organization))
    rows = [(c, ContactTypesForm(initial={"types": _types_of(c)}, prefix=str(c.pk))) for c in contact_list]
    return render(
        request,
        "alerts/contacts.html",
        {
            "nav": "contacts",
            "form": form,
            "rows": rows,
            "can_write": can_write,
            "has_security": any(c.security for c in contact_list),
        },
    )


def _types_of(contact: NotificationContact) -> list[str]:
    return [value for value in NotificationContact.Type.values if getattr(contact, value)]


@require_POST
@login_required
@permission_required("contacts:write", method="UpdateContact")
def contact_update(request: ConsoleRequest, contact_id: uuid.UUID) -> HttpResponse:
    organization = request.organization
    assert organization is not None
    contact = selectors.notification_contact_get(organization=organization, contact_id=contact_id)
    if contact is None:
        raise Http404("No such contact.")
    form = ContactTypesForm(request.POST, prefix=str(contact.pk))
    if form.is_valid():
        services.notification_contact_update(
            actor=Actor.from_request(request), contact=contact, types=form.cleaned_data["types"]
        )
        messages.success(request, f"{contact.email}: notification types saved.")
    else:
        messages.error(
            request, f"{contact.email}: {' '.join(cast(Iterable[str], form.errors.get('types', [])))}"
        )
    return HttpResponseRedirect(reverse("alerts:contacts"))


@require_POST
@login_required
@permission_required("contacts:write", method="DeleteContact")
def contact_delete(request: ConsoleRequest, contact_id: uuid.UUID) -> HttpResponse:
    organization = request.organization
    assert organization is not None
    contact = selectors.notification_contact_get(organization=organization, contact_id=contact_id)
    if contact is None:
        raise Http404("No such contact.")
    services.notification_contact_delete(actor=Actor.from_request(request), contact=contact)
    messages.success(request, f"{contact.email} removed.")
    return HttpResponseRedirect(reverse("alerts:contacts"))
