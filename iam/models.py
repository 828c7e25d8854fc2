from __future__ import annotations

import hashlib
import secrets
import string
import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from worker.models import EmailDelivery

ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    owner = models.ForeignKey("iam.User", on_delete=models.PROTECT, related_name="owned_organizations")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="iam_project_unique_name_per_org"),
        ]

    def __str__(self) -> str:
        return self.name


class EmailUserManager(UserManager["User"]):
    """Users sign in with their e-mail address; `username` is only a display handle."""

    def _create_user_object(self, username: Any, email: Any, password: Any, **extra_fields: Any) -> User:
        email = self.normalize_email(email or username)
        user = self.model(username=username or email, email=email, **extra_fields)
        user.password = ""
        if password is not None:
            user.set_password(password)
        return user

    def create_user(self, email: str | None = None, password: str | None = None, **extra: Any) -> User:  # type: ignore[override]  # email, not username, identifies a user
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        username = extra.pop("username", None) or email
        user = self._create_user_object(username, email, password, **extra)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str | None = None, password: str | None = None, **extra: Any) -> User:  # type: ignore[override]  # email, not username, identifies a user
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    class TimeDisplay(models.TextChoices):
        LOCAL = "local", "Local time"
        UTC = "utc", "UTC"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    username = models.CharField(max_length=150, blank=True)
    time_zone = models.CharField(max_length=64, default="Europe/Paris")

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    objects = EmailUserManager()  # type: ignore[misc]  # the email manager replaces UserManager

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email


class MembershipQuerySet(models.QuerySet["Membership"]):
    def active(self) -> MembershipQuerySet:
        return self.filter(removed_at__isnull=True)


class Membership(models.Model):
    """A user's place in an organization. Kept, with `removed_at`, after they leave."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    joined_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"],
                condition=Q(removed_at__isnull=True),
                name="iam_membership_one_active_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization}"

    @property
    def is_active(self) -> bool:
        return self.removed_at is None


class Application(models.Model):
    """A non-human principal (an IAM application), which holds API keys."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="applications")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Group(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=200, blank=True)
    users = models.ManyToManyField(User, blank=True, related_name="iam_groups")
    applications = models.ManyToManyField(Application, blank=True, related_name="iam_groups")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # One "Administrators" per organization: a policy naming a group by name must be clear.
            models.UniqueConstraint(
                "organization",
                Lower("name"),
                name="iam_group_unique_name_per_organization",
                violation_error_message="A group with this name already exists in the organization.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Policy(models.Model):
    """Grants its rules to one principal: a user, a group, an application, or none."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=200, blank=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="policies")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="policies")
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.CASCADE, related_name="policies"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=True, group__isnull=True)
                    | Q(user__isnull=True, application__isnull=True)
                    | Q(group__isnull=True, application__isnull=True)
                ),
                name="iam_policy_at_most_one_principal",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def principal(self) -> User | Group | Application | None:
        return self.user or self.group or self.application


class Rule(models.Model):
    class ScopeType(models.TextChoices):
        ORGANIZATION = "organization", "Organization"
        PROJECTS = "projects", "Projects"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="rules")
    permission_set_names = models.JSONField(default=list)
    scope_type = models.CharField(max_length=16, choices=ScopeType.choices, default=ScopeType.ORGANIZATION)
    project_ids = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"{', '.join(self.permission_set_names)} on {self.scope_type}"


def generate_access_key() -> str:
    return "SCW" + "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(17))


def hash_secret(secret_key: str) -> str:
    """Secret keys are random UUIDs (122 bits), so one SHA-256 suffices: no dictionary to guess from."""
    return hashlib.sha256(secret_key.strip().lower().encode()).hexdigest()


class APIKeyQuerySet(models.QuerySet["APIKey"]):
    def usable(self) -> APIKeyQuerySet:
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))


class APIKey(models.Model):
    """An access key (`SCW` + 17 chars) and the SHA-256 of its secret key (a UUID shown once)."""

    access_key = models.CharField(
        primary_key=True, max_length=20, default=generate_access_key, editable=False
    )
    secret_key_hash = models.CharField(max_length=64, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys")
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    description = models.CharField(max_length=200, blank=True)
    default_project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    creation_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = APIKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, application__isnull=True)
                | Q(user__isnull=True, application__isnull=False),
                name="iam_apikey_exactly_one_bearer",
            ),
        ]

    def __str__(self) -> str:
        return self.access_key

    @property
    def bearer(self) -> User | Application:
        return self.user or self.application  # type: ignore[return-value]  # the check constraint guarantees one of the two

    @property
    def bearer_id(self) -> uuid.UUID:
        return self.user_id or self.application_id  # type: ignore[return-value]  # the check constraint guarantees one of the two

    @property
    def bearer_type(self) -> str:
        return "user" if self.user_id else "application"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class Invitation(EmailDelivery):
    """An e-mailed invitation to join an organization: accepted, rejected, or left to expire.

    Only the SHA-256 of the e-mailed token is stored, like API key secrets. The e-mail is sent by
    a task, at least once (`notification_*`: `worker.delivery`'s state).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    # The account the invitation is for; created with the invitation when the address had none
    # (Scaleway's "invitation_pending" user), and deleted again if it is rejected or expires.
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations"
    )
    user_created = models.BooleanField(default=False)
    invited_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta(EmailDelivery.Meta):
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(status="pending"),
                name="iam_invitation_one_pending_per_email",
            ),
        ]
        indexes = [
            *EmailDelivery.Meta.indexes,
            # The expiry sweep: pending invitations past their date.
            models.Index(fields=["status", "expires_at"], name="iam_invitation_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_open(self) -> bool:
        """Still answerable: pending and not past its expiry."""
        return self.status == self.Status.PENDING and not self.is_expired

    @property
    def effective_status(self) -> str:
        if self.status == self.Status.PENDING and self.is_expired:
            return self.Status.EXPIRED
        return self.status
