"""Staff manage organizations, people and IAM objects here. API key secrets are never shown:
only their hash is stored, and the admin does not even display that."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.services import Actor
from iam.models import APIKey, Application, Group, Membership, Organization, Policy, Project, Rule, User
from iam.services import api_key_delete


class ProjectInline(admin.TabularInline):
    model = Project
    extra = 0
    fields = ["name", "description", "created_at"]
    readonly_fields = ["created_at"]
    show_change_link = True


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "joined_at", "removed_at"]
    raw_id_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "id", "created_at"]
    search_fields = ["name", "owner__email", "=id"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["id"]
    inlines = [ProjectInline, MembershipInline]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "id", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name", "=id"]
    list_select_related = ["organization"]
    readonly_fields = ["id"]


class EmailUserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)


class EmailUserChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin, keyed on the e-mail address people sign in with."""

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


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "joined_at", "removed_at"]
    list_filter = ["organization", ("removed_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "organization__name"]
    list_select_related = ["user", "organization"]
    raw_id_fields = ["user"]


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "id", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name", "=id"]
    list_select_related = ["organization"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "id"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization"]
    filter_horizontal = ["users", "applications"]
    readonly_fields = ["id", "created_at", "updated_at"]


class RuleInline(admin.TabularInline):
    model = Rule
    extra = 0
    fields = ["permission_set_names", "scope_type", "project_ids"]


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
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
class APIKeyAdmin(admin.ModelAdmin):
    """Keys are made in the console or the API, which show the secret once. Here staff may read
    them, edit the description or expiry, and delete them (recorded as DeleteAPIKey)."""

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

    def delete_model(self, request: HttpRequest, obj: APIKey) -> None:
        api_key_delete(actor=Actor.of(request.user, request=request), key=obj)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        for key in queryset.select_related("organization"):
            self.delete_model(request, key)
