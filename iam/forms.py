from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone

from audit.services import Actor
from iam.fields import UTCDateTimeField
from iam.models import Application, Group, Organization, Project, User
from iam.permission_sets import CATALOGUE
from iam.permissions import may_create_api_key_for
from iam.selectors import member_users
from iam.services import RuleSpec

THROTTLED_MESSAGE = "Too many failed log-in attempts. Wait 15 minutes before trying again."


class LoginForm(AuthenticationForm):
    """Django's log-in form; a `throttled` attempt is refused before any password is checked."""

    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    def __init__(self, request: Any = None, *args: Any, throttled: bool = False, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.throttled = throttled

    def clean(self) -> dict[str, Any]:
        if self.throttled:
            raise forms.ValidationError(THROTTLED_MESSAGE, code="throttled")
        return super().clean()


class OrganizationSwitchForm(forms.Form):
    organization = forms.UUIDField()
    next = forms.CharField(required=False)


class TimeDisplayForm(forms.Form):
    time_display = forms.ChoiceField(choices=[("local", "Local time"), ("utc", "UTC")])
    next = forms.CharField(required=False)


# --- IAM console forms ------------------------------------------------------------------------------

DATETIME_LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _principal_choices(
    organization: Organization, *, users: bool = True, groups: bool = False, applications: bool = True
) -> list[tuple[str, Any]]:
    choices: list[tuple[str, Any]] = []
    if users:
        choices.append(
            ("Users", [(f"user:{u.pk}", u.email) for u in member_users(organization=organization)])
        )
    if groups:
        choices.append(("Groups", [(f"group:{g.pk}", g.name) for g in organization.groups.order_by("name")]))
    if applications:
        choices.append(
            (
                "Applications",
                [(f"application:{a.pk}", a.name) for a in organization.applications.order_by("name")],
            )
        )
    return [c for c in choices if c[1]]


def resolve_principal(organization: Organization, value: str) -> User | Group | Application | None:
    """'user:<uuid>' (an active member), 'group:<uuid>' or 'application:<uuid>' of the organization."""
    kind, _, pk = value.partition(":")
    try:
        uuid.UUID(pk)
    except ValueError:
        return None
    if kind == "user":
        return member_users(organization=organization).filter(pk=pk).first()
    if kind == "group":
        return Group.objects.filter(organization=organization, pk=pk).first()
    if kind == "application":
        return Application.objects.filter(organization=organization, pk=pk).first()
    return None


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254)


class ApplicationForm(forms.Form):
    name = forms.CharField(max_length=64)
    description = forms.CharField(max_length=200, required=False)


class GroupForm(forms.Form):
    name = forms.CharField(max_length=64)
    description = forms.CharField(max_length=200, required=False)


class GroupMemberForm(forms.Form):
    member = forms.ChoiceField(label="User or application")

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        cast(forms.ChoiceField, self.fields["member"]).choices = [
            ("", "Choose a member…"),
            *_principal_choices(organization),
        ]

    def clean_member(self) -> User | Application:
        member = resolve_principal(self.organization, self.cleaned_data["member"])
        if member is None or isinstance(member, Group):
            raise forms.ValidationError("Choose a user or an application of the organization.")
        return member


class GroupMemberRemoveForm(forms.Form):
    member = forms.CharField()

    def __init__(self, *args: Any, group: Group, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group = group

    def clean_member(self) -> User | Application:
        value = self.cleaned_data["member"]
        kind, _, pk = value.partition(":")
        try:
            uuid.UUID(pk)
        except ValueError:
            raise forms.ValidationError("Unknown member.") from None
        # Only a member of this group can leave it. A removed member of the organization may still
        # sit in the group, so not by membership; and never any account by id, which would record
        # a removal that did not happen and tell another organization's user ids from unknown ones.
        member: User | Application | None = None
        if kind == "user":
            member = self.group.users.filter(pk=pk).first()
        elif kind == "application":
            member = self.group.applications.filter(pk=pk).first()
        if member is None:
            raise forms.ValidationError("Unknown member.")
        return member


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=64)
    description = forms.CharField(max_length=200, required=False)
    principal = forms.ChoiceField(label="Principal", required=False)

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        cast(forms.ChoiceField, self.fields["principal"]).choices = [
            ("", "No principal"),
            *_principal_choices(organization, groups=True),
        ]

    def clean_principal(self) -> User | Group | Application | None:
        value = self.cleaned_data.get("principal") or ""
        if not value:
            return None
        principal = resolve_principal(self.organization, value)
        if principal is None:
            raise forms.ValidationError("Choose a principal of the organization.")
        return principal


class RuleForm(forms.Form):
    permission_set_names = forms.MultipleChoiceField(
        label="Permission sets",
        choices=[(p.name, p.name) for p in CATALOGUE.values()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    scope = forms.ChoiceField(
        choices=[("organization", "The whole organization"), ("projects", "Some projects")],
        widget=forms.RadioSelect,
        initial="organization",
        required=False,
    )
    project_ids = forms.MultipleChoiceField(
        label="Projects", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["project_ids"]).choices = [
            (str(p.pk), p.name) for p in Project.objects.filter(organization=organization).order_by("name")
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        names = data.get("permission_set_names") or []
        if not names:
            return data
        if data.get("scope") == "projects":
            if not data.get("project_ids"):
                self.add_error(
                    "project_ids", "Choose at least one project, or scope the rule to the organization."
                )
            org_only = [n for n in names if CATALOGUE[n].scope_type == "organization"]
            if org_only:
                self.add_error(
                    "scope",
                    f"{', '.join(org_only)} can only be granted on the whole organization.",
                )
        return data

    def spec(self) -> RuleSpec | None:
        names = self.cleaned_data.get("permission_set_names") or []
        if not names:
            return None
        projects = (
            self.cleaned_data.get("project_ids") if self.cleaned_data.get("scope") == "projects" else []
        )
        return RuleSpec(permission_set_names=names, project_ids=projects or [])


if TYPE_CHECKING:
    RuleFormSetBase = forms.BaseFormSet[RuleForm]
else:  # generic in django-stubs only: Django's class takes no subscript at run time
    RuleFormSetBase = forms.BaseFormSet


class BaseRuleFormSet(RuleFormSetBase):
    def clean(self) -> None:
        if any(self.errors):
            return
        if not any(f.spec() for f in self.forms if f.cleaned_data):
            raise forms.ValidationError("A policy needs at least one rule with a permission set.")

    def specs(self) -> list[RuleSpec]:
        return [s for f in self.forms if f.cleaned_data and (s := f.spec()) is not None]


# A subclass of the formset given: django-stubs' formset_factory returns its base class instead.
RuleFormSet = cast(
    "type[BaseRuleFormSet]",
    forms.formset_factory(RuleForm, formset=BaseRuleFormSet, extra=1, max_num=20, absolute_max=20),
)


def rule_formset(
    organization: Organization, data: Any = None, initial: list[dict[str, Any]] | None = None
) -> BaseRuleFormSet:
    return RuleFormSet(data, initial=initial, prefix="rules", form_kwargs={"organization": organization})


class APIKeyForm(forms.Form):
    bearer = forms.ChoiceField(label="Bearer")
    description = forms.CharField(max_length=200, required=False)
    default_project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, empty_label="No default project"
    )
    expires_at = UTCDateTimeField(
        label="Expires",
        required=False,
        widget=DATETIME_LOCAL,
        help_text="Leave empty for a key that never expires.",
    )

    def __init__(self, *args: Any, organization: Organization, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.user = user
        applications = [(f"application:{a.pk}", a.name) for a in organization.applications.order_by("name")]
        cast(forms.ChoiceField, self.fields["bearer"]).choices = [("me", f"Myself ({user.email})")] + (
            [("Applications", applications)] if applications else []
        )
        default_project = cast("forms.ModelChoiceField[Project]", self.fields["default_project"])
        default_project.queryset = Project.objects.filter(organization=organization).order_by("name")

    def clean_bearer(self) -> User | Application:
        value = self.cleaned_data["bearer"]
        principal = self.user if value == "me" else resolve_principal(self.organization, value)
        # The choices offer only the bearers the service allows; the same rule decides here.
        if not isinstance(principal, User | Application) or not may_create_api_key_for(
            Actor.of(self.user), self.organization, principal
        ):
            raise forms.ValidationError("Choose yourself or an application of the organization.")
        return principal

    def clean_expires_at(self) -> datetime | None:
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value


class InvitationAcceptForm(forms.Form):
    """Accept, choosing a password when the account was created for the invitation."""

    password1 = forms.CharField(
        label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password (again)", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2:
            if p1 != p2:
                self.add_error("password2", "The two passwords differ.")
            else:
                try:
                    password_validation.validate_password(p1, self.user)
                except forms.ValidationError as error:
                    self.add_error("password1", error)
        return data
