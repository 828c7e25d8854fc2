"""Staff manage organizations, people and IAM objects here. API key secrets are never shown:
only their hash is stored, and the admin does not even display that.

Every write made here (add, change, delete, bulk delete, inline and many-to-many edits, a
password set) is recorded in the trail like the console's and the API's, with the staff user as
principal: `TrailedAdmin` does it for each registered model, from the `Trail` it declares.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import models, router, transaction
from django.db.models import Q, QuerySet
from django.forms import BaseForm, BaseFormSet, BaseModelFormSet, ModelForm
from django.http import HttpRequest, HttpResponse

from audit.redaction import REDACTED
from audit.services import Actor, record
from iam.models import APIKey, Application, Group, Membership, Organization, Policy, Project, Rule, User
from iam.services import (
    IAM_PRODUCT,
    IAM_SERVICE,
    api_key_resource,
    application_resource,
    group_resource,
    policy_resource,
    user_resource,
)

ACCOUNT_PRODUCT = "account"

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
    TabularInline = admin.TabularInline[Any, Any]
    UserAdminBase = DjangoUserAdmin[User]
    UserCreationFormBase = AdminUserCreationForm[User]
    UserChangeFormBase = UserChangeForm[User]
else:  # generic in django-stubs only: Django's classes take no subscript at run time
    ModelAdmin = admin.ModelAdmin
    TabularInline = admin.TabularInline
    UserAdminBase = DjangoUserAdmin
    UserCreationFormBase = AdminUserCreationForm
    UserChangeFormBase = UserChangeForm


def _account_resource(type_: str) -> Callable[..., dict[str, Any]]:
    def resource(obj: Organization | Project, *, deleted: bool = False) -> dict[str, Any]:
        return {"id": str(obj.pk), "type": type_, "name": obj.name}

    return resource


def _own_organization(obj: Any) -> list[uuid.UUID]:
    return [obj.organization_id]


def _user_organizations(user: User) -> list[uuid.UUID]:
    """The organizations a user is in now: owned, or an active member of."""
    if user.pk is None:
        return []
    owned = Organization.objects.filter(
        Q(owner=user) | Q(memberships__user=user, memberships__removed_at__isnull=True)
    )
    return sorted(set(owned.values_list("pk", flat=True)), key=str)


@dataclass(frozen=True)
class Trail:
    """How admin writes to one model appear in the trail, in the names the services use.

    Events are Create<noun>, Update<noun> and Delete<noun>, about `resource(obj)`, with the
    object's id under `id_field` in the request body next to the changed fields (secrets are
    redacted by `record`). An object is filed under each of `organizations(obj)`.
    """

    noun: str
    resource: Callable[..., dict[str, Any]]
    id_field: str
    organizations: Callable[[Any], list[uuid.UUID]] = _own_organization
    product: str = IAM_PRODUCT
    service: str = IAM_SERVICE


ORGANIZATION_TRAIL = Trail(
    "Organization",
    _account_resource("account_organization"),
    "organization_id",
    organizations=lambda organization: [organization.pk],
    product=ACCOUNT_PRODUCT,
    service="scaleway.account.v3.OrganizationApi",
)
PROJECT_TRAIL = Trail(
    "Project",
    _account_resource("account_project"),
    "project_id",
    product=ACCOUNT_PRODUCT,
    service="scaleway.account.v3.ProjectApi",
)
USER_TRAIL = Trail("User", user_resource, "user_id", organizations=_user_organizations)
# A membership is the user's presence in one organization: IAM's CreateUser / DeleteUser.
MEMBERSHIP_TRAIL = Trail("User", lambda membership, **kw: user_resource(membership.user, **kw), "user_id")


def _wire(value: Any) -> Any:
    """A form value as the request body would carry it: ids for objects, ISO 8601 for times."""
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, QuerySet | list | tuple | set):
        return [_wire(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str | dict):
        return value
    return str(value)


def _changed(form: BaseForm, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The fields the form changed, with their new values.

    The admin's date and time widgets show whole seconds, so a form saved untouched "changes"
    every timestamp that had microseconds: that is not a change anyone made, and is left out.
    """
    cleaned = getattr(form, "cleaned_data", {})
    changes = {}
    for name in form.changed_data:
        if name in skip or name in ("DELETE", "id"):
            continue
        new, old = cleaned.get(name), form[name].initial
        if isinstance(new, datetime) and isinstance(old, datetime) and _to_second(new) == _to_second(old):
            continue
        changes[name] = _wire(new)
    return changes


def _to_second(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _staff_organizations(request: HttpRequest) -> list[uuid.UUID]:
    user = request.user
    return _user_organizations(user) if isinstance(user, User) else []


class TrailedAdmin(ModelAdmin):
    """A ModelAdmin whose every write is recorded in the trail, with the staff user as principal
    (IP, user agent and request id of the admin request).

    An object without an organization of its own (a user) is filed under each organization it is
    in; one in none (a new account, say) under the staff user's organizations, and only in
    Django's admin log when the staff user is in none either: the trail is per organization.
    Inlines whose model declares a `trail` record their own events; others (a policy's rules)
    are part of the parent's Update event.
    """

    trail: Trail

    def trail_record(
        self, request: HttpRequest, obj: Any, verb: str, body: dict[str, Any], **kw: Any
    ) -> None:
        self._record(request, self.trail, obj, verb, body, **kw)

    def _record(
        self,
        request: HttpRequest,
        trail: Trail,
        obj: Any,
        verb: str,
        body: dict[str, Any],
        *,
        organizations: list[uuid.UUID] | None = None,
        resource: dict[str, Any] | None = None,
        method: str | None = None,
    ) -> None:
        if organizations is None:
            organizations = trail.organizations(obj)
        resource = resource or trail.resource(obj, deleted=verb == "Delete")
        body = {trail.id_field: resource["id"], **body}
        user = request.user  # the admin's: a staff User
        actor = Actor.of(user if isinstance(user, User) else None, request=request)
        for organization_id in organizations or _staff_organizations(request):
            record(
                organization_id=organization_id,
                actor=actor,
                product_name=trail.product,
                service_name=trail.service,
                method_name=method or f"{verb}{trail.noun}",
                locality="global",
                resources=[resource],
                request_body=body,
            )

    def save_related(
        self, request: HttpRequest, form: ModelForm[Any], formsets: list[BaseFormSet[Any]], change: bool
    ) -> None:
        # The admin calls this right after save_model (the change form and list_editable alike),
        # in the same transaction: recording here, once the inlines and many-to-many fields are
        # saved too, makes one event of the whole save.
        super().save_related(request, form, formsets, change)
        obj = form.instance
        body = _changed(form)
        for formset in formsets:
            if not isinstance(formset, BaseModelFormSet):  # the inlines' formsets all are
                continue
            inline_trail = getattr(formset, "trail", None)
            if inline_trail is not None:
                self._record_inline(request, inline_trail, formset)
            elif inline_changes := self._inline_changes(formset):
                body[formset.prefix] = inline_changes  # type: ignore[index]  # django-stubs: never None once built
        if change and not body:
            return  # saved without a change: nothing happened
        self.trail_record(request, obj, "Update" if change else "Create", body)

    def _inline_changes(self, formset: BaseModelFormSet[Any, Any]) -> dict[str, Any]:
        fk = getattr(formset, "fk", None)
        skip = [fk.name] if fk is not None else []
        new = {id(o) for o in formset.new_objects}
        changes: dict[str, Any] = {}
        for form in formset.forms:
            if form.instance in formset.deleted_objects or not form.has_changed():
                continue
            changed = _changed(form, skip=skip)
            if changed:
                kind = "added" if id(form.instance) in new else "changed"
                changes.setdefault(kind, []).append({"id": _wire(form.instance.pk), **changed})
        if formset.deleted_objects:
            changes["deleted"] = [_wire(o.pk) for o in formset.deleted_objects]
        return changes

    def _record_inline(self, request: HttpRequest, trail: Trail, formset: BaseModelFormSet[Any, Any]) -> None:
        fk = getattr(formset, "fk", None)
        skip = [fk.name] if fk is not None else []
        new = {id(o) for o in formset.new_objects}
        for form in formset.forms:
            if form.instance in formset.deleted_objects or not form.has_changed() or form.instance.pk is None:
                continue
            changed = _changed(form, skip=skip)
            if changed:
                verb = "Create" if id(form.instance) in new else "Update"
                self._record(request, trail, form.instance, verb, changed)
        for obj in formset.deleted_objects:
            self._record(request, trail, obj, "Delete", {})

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        # What names the object is read before it goes (a user's organizations go with it).
        organizations, resource = self.trail.organizations(obj), self.trail.resource(obj, deleted=True)
        super().delete_model(request, obj)
        self.trail_record(request, obj, "Delete", {}, organizations=organizations, resource=resource)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # The bulk "delete selected" action: one Delete event per object, all or nothing.
        with transaction.atomic(using=router.db_for_write(self.model)):
            gone = [
                (obj, self.trail.organizations(obj), self.trail.resource(obj, deleted=True))
                for obj in queryset
            ]
            super().delete_queryset(request, queryset)
            for obj, organizations, resource in gone:
                self.trail_record(request, obj, "Delete", {}, organizations=organizations, resource=resource)


class TrailedInline:
    """Mixed into an inline whose model has its own events (a project, a membership): the
    formset carries the `trail`, and the parent's `TrailedAdmin` records one event per row."""

    trail: Trail

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]  # a mixin of InlineModelAdmin
        formset.trail = self.trail
        return formset


class ProjectInline(TrailedInline, TabularInline):
    trail = PROJECT_TRAIL
    model = Project
    extra = 0
    fields = ["name", "description", "created_at"]
    readonly_fields = ["created_at"]
    show_change_link = True


class MembershipInline(TrailedInline, TabularInline):
    trail = MEMBERSHIP_TRAIL
    model = Membership
    extra = 0
    fields = ["user", "joined_at", "removed_at"]
    raw_id_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(TrailedAdmin):
    trail = ORGANIZATION_TRAIL
    list_display = ["name", "owner", "id", "created_at"]
    search_fields = ["name", "owner__email", "=id"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["id"]
    inlines = [ProjectInline, MembershipInline]


@admin.register(Project)
class ProjectAdmin(TrailedAdmin):
    trail = PROJECT_TRAIL
    list_display = ["name", "organization", "id", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name", "=id"]
    list_select_related = ["organization"]
    readonly_fields = ["id"]


class EmailUserCreationForm(UserCreationFormBase):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)


class EmailUserChangeForm(UserChangeFormBase):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(TrailedAdmin, UserAdminBase):
    """Django's user admin, keyed on the e-mail address people sign in with."""

    trail = USER_TRAIL

    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    ordering = ["email"]
    readonly_fields = ["id", "last_login", "date_joined"]
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "username", "time_zone")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        # Django's password form saves outside save_model: it is recorded in log_change below,
        # in the same transaction as the new password.
        request._trail_password = True  # type: ignore[attr-defined]  # read by log_change
        with transaction.atomic(using=router.db_for_write(self.model)):
            return super().user_change_password(request, id, form_url)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_change(request, obj, message)
        if getattr(request, "_trail_password", False):
            body = {"password": REDACTED} if obj.has_usable_password() else {"usable_password": False}
            self.trail_record(request, obj, "Update", body, method="UpdateUserPassword")
        return entry


@admin.register(Membership)
class MembershipAdmin(TrailedAdmin):
    trail = MEMBERSHIP_TRAIL
    list_display = ["user", "organization", "joined_at", "removed_at"]
    list_filter = ["organization", ("removed_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "organization__name"]
    list_select_related = ["user", "organization"]
    raw_id_fields = ["user"]


@admin.register(Application)
class ApplicationAdmin(TrailedAdmin):
    trail = Trail("Application", application_resource, "application_id")
    list_display = ["name", "organization", "id", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name", "=id"]
    list_select_related = ["organization"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(Group)
class GroupAdmin(TrailedAdmin):
    trail = Trail("Group", group_resource, "group_id")
    list_display = ["name", "organization", "id"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization"]
    filter_horizontal = ["users", "applications"]
    readonly_fields = ["id", "created_at", "updated_at"]


class RuleInline(TabularInline):
    model = Rule
    extra = 0
    fields = ["permission_set_names", "scope_type", "project_ids"]


@admin.register(Policy)
class PolicyAdmin(TrailedAdmin):
    trail = Trail("Policy", policy_resource, "policy_id")
    list_display = ["name", "organization", "principal_label"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name", "user__email", "group__name", "application__name"]
    list_select_related = ["organization", "user", "group", "application"]
    raw_id_fields = ["user", "group", "application"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [RuleInline]

    @admin.display(description="Principal")
    def principal_label(self, policy: Policy) -> str:
        principal = policy.principal
        return f"{type(principal).__name__.lower()} {principal}" if principal else "—"


@admin.register(APIKey)
class APIKeyAdmin(TrailedAdmin):
    """Keys are made in the console or the API, which show the secret once. Here staff may read
    them, edit the description or expiry (UpdateAPIKey), and delete them (DeleteAPIKey)."""

    trail = Trail("APIKey", api_key_resource, "access_key")

    list_display = ["access_key", "organization", "bearer_label", "description", "expires_at", "created_at"]
    list_filter = ["organization"]
    search_fields = ["=access_key", "description", "user__email", "application__name"]
    list_select_related = ["organization", "user", "application"]
    fields = [
        "access_key",
        "organization",
        "user",
        "application",
        "description",
        "default_project",
        "expires_at",
        "creation_ip",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        "access_key",
        "organization",
        "user",
        "application",
        "default_project",
        "creation_ip",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Bearer")
    def bearer_label(self, key: APIKey) -> str:
        return f"{key.bearer_type} {key.bearer}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
