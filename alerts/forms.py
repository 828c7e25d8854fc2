from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms

from alerts.models import CustomAlertRule, NotificationContact
from alerts.rules import ExpressionError, RuleNameError, Severity, check_rule_name, compile_expression
from alerts.selectors import RuleState
from core.regions import DEFAULT_REGION, REGION_NAMES, REGIONS


class RegionForm(forms.Form):
    region = forms.ChoiceField(
        choices=[(r, f"{REGION_NAMES[r]} ({r})") for r in REGIONS], required=False, label="Region"
    )

    def region_or_default(self) -> str:
        if self.is_valid() and self.cleaned_data["region"]:
            return str(self.cleaned_data["region"])
        return DEFAULT_REGION


class AlertRulesForm(forms.Form):
    """One Active checkbox per rule (preconfigured, then custom), saved by one button."""

    def __init__(
        self, *args: Any, states: list[RuleState], custom_rules: list[CustomAlertRule], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.states = states
        self.custom_rules = custom_rules
        for state in states:
            self.fields[f"rule_{state.rule.name}"] = forms.BooleanField(
                required=False, initial=state.active, label=f"{state.rule.name} active"
            )
        for rule in custom_rules:
            self.fields[f"custom_{rule.pk}"] = forms.BooleanField(
                required=False, initial=rule.enabled, label=f"{rule.name} active"
            )

    def preconfigured_rows(self) -> list[tuple[RuleState, forms.BoundField]]:
        return [(state, self[f"rule_{state.rule.name}"]) for state in self.states]

    def custom_rows(self) -> list[tuple[CustomAlertRule, forms.BoundField]]:
        return [(rule, self[f"custom_{rule.pk}"]) for rule in self.custom_rules]

    def enabled_rule_ids(self) -> list[str]:
        return [str(s.rule.id) for s in self.states if self.cleaned_data[f"rule_{s.rule.name}"]]

    def enabled_custom_rule_ids(self) -> list[str]:
        return [str(r.pk) for r in self.custom_rules if self.cleaned_data[f"custom_{r.pk}"]]

    def preconfigured_changed(self) -> bool:
        return any(f"rule_{s.rule.name}" in self.changed_data for s in self.states)

    def custom_changed(self) -> bool:
        return any(f"custom_{r.pk}" in self.changed_data for r in self.custom_rules)


WINDOWS = [
    (60, "1 minute"),
    (300, "5 minutes"),
    (900, "15 minutes"),
    (1800, "30 minutes"),
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
    (24 * 3600, "24 hours"),
]


class CustomAlertRuleForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Shown in the alert list and in e-mails.")
    description = forms.CharField(max_length=500, required=False, widget=forms.TextInput)
    query = forms.CharField(
        label="Expression (CEL)",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        help_text='True for the events to match, e.g. status_code == 403 && product_name == "secret-manager"',
    )
    occurrences = forms.IntegerField(
        min_value=1,
        max_value=100_000,
        initial=1,
        help_text="Matching events needed within the window to fire. 1 fires once per matching event.",
    )
    evaluation_window = forms.TypedChoiceField(
        choices=WINDOWS, coerce=int, initial=300, label="Evaluation window"
    )
    severity = forms.ChoiceField(choices=Severity.CHOICES, initial=Severity.INFO)
    enabled = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args: Any, organization: Any, region: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.region = region

    def clean_query(self) -> str:
        query: str = self.cleaned_data["query"].strip()
        try:
            compile_expression(query)
        except ExpressionError as exc:
            raise forms.ValidationError(str(exc), code="cel") from exc
        return query

    def clean_name(self) -> str:
        try:
            name = check_rule_name(self.cleaned_data["name"])
        except RuleNameError as exc:
            raise forms.ValidationError(str(exc), code="name") from exc
        if CustomAlertRule.objects.filter(
            organization=self.organization, region=self.region, name__iexact=name
        ).exists():
            raise forms.ValidationError("A custom rule with this name already exists in this region.")
        return name

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.cleaned_data["evaluation_window"])


TYPE_CHOICES = NotificationContact.Type.choices


class NotificationContactForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    types = forms.MultipleChoiceField(
        choices=TYPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=[NotificationContact.Type.SECURITY],
        label="Notification types",
    )

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        if NotificationContact.objects.filter(organization=self.organization, email=email).exists():
            raise forms.ValidationError("This address is already a contact.")
        return email


class ContactTypesForm(forms.Form):
    types = forms.MultipleChoiceField(
        choices=TYPE_CHOICES, widget=forms.CheckboxSelectMultiple, required=False, label="Notification types"
    )

    def clean_types(self) -> list[str]:
        types = self.cleaned_data["types"]
        if not types:
            raise forms.ValidationError("Choose at least one notification type, or delete the contact.")
        return list(types)
