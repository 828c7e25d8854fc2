"""Groups of users and applications, which policies can name as their principal."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import IntegrityError, transaction

from audit.services import Actor
from iam.models import Application, Group, Organization, User
from iam.services._audit import delete_and_record, group_resource, iam_record
from iam.services._common import IamError, is_member


def _save_named(group: Group, *, save: Callable[[], object]) -> None:
    """Save `group` under a name no other group of its organization has, whatever the case
    (IamError). The check answers clearly; the constraint decides a race with another request."""
    taken = Group.objects.filter(organization_id=group.organization_id, name__iexact=group.name).exclude(
        pk=group.pk
    )
    message = f"A group named “{group.name}” already exists in the organization."
    if taken.exists():
        raise IamError(message)
    try:
        with transaction.atomic():
            save()
    except IntegrityError:
        raise IamError(message) from None


@transaction.atomic
def group_create(*, actor: Actor, organization: Organization, name: str, description: str = "") -> Group:
    """Create a group. Its name is unique in the organization, whatever the case (IamError)."""
    group = Group(organization=organization, name=name, description=description)
    _save_named(group, save=lambda: group.save(force_insert=True))
    iam_record(
        actor=actor,
        organization=organization,
        method_name="CreateGroup",
        resources=[group_resource(group)],
        request_body={"name": name, "description": description, "organization_id": str(organization.pk)},
    )
    return group


@transaction.atomic
def group_update(*, actor: Actor, group: Group, name: str, description: str = "") -> Group:
    """Rename or redescribe a group. Its new name is unique in the organization, whatever the
    case (IamError), as at creation."""
    group.name = name
    group.description = description
    _save_named(group, save=lambda: group.save(update_fields=["name", "description", "updated_at"]))
    iam_record(
        actor=actor,
        organization=group.organization,
        method_name="UpdateGroup",
        resources=[group_resource(group)],
        request_body={"group_id": str(group.pk), "name": name, "description": description},
    )
    return group


@transaction.atomic
def group_delete(*, actor: Actor, group: Group) -> None:
    delete_and_record(
        group,
        actor=actor,
        organization=group.organization,
        method_name="DeleteGroup",
        resource_of=group_resource,
        id_field="group_id",
    )


def _member_body(member: User | Application) -> dict[str, str]:
    return {"user_id": str(member.pk)} if isinstance(member, User) else {"application_id": str(member.pk)}


def _check_member(group: Group, member: User | Application) -> None:
    """A user must be an active member of the organization, an application one of its own."""
    if isinstance(member, User):
        if not is_member(group.organization, member):
            raise IamError(f"{member.email} is not a member of the organization.")
    elif member.organization_id != group.organization_id:
        raise IamError("The application belongs to another organization.")


@transaction.atomic
def group_member_add(*, actor: Actor, group: Group, member: User | Application) -> None:
    """Add a user (an active member of the organization) or an application of the organization."""
    _check_member(group, member)
    if isinstance(member, User):
        group.users.add(member)
    else:
        group.applications.add(member)
    group.save(update_fields=["updated_at"])
    iam_record(
        actor=actor,
        organization=group.organization,
        method_name="AddGroupMember",
        resources=[group_resource(group)],
        request_body={"group_id": str(group.pk), **_member_body(member)},
    )


@transaction.atomic
def group_member_remove(*, actor: Actor, group: Group, member: User | Application) -> None:
    if isinstance(member, User):
        group.users.remove(member)
    else:
        group.applications.remove(member)
    group.save(update_fields=["updated_at"])
    iam_record(
        actor=actor,
        organization=group.organization,
        method_name="RemoveGroupMember",
        resources=[group_resource(group)],
        request_body={"group_id": str(group.pk), **_member_body(member)},
    )


def _members_body(users: Sequence[User], applications: Sequence[Application]) -> dict[str, list[str]]:
    return {"user_ids": [str(u.pk) for u in users], "application_ids": [str(a.pk) for a in applications]}


@transaction.atomic
def group_members_add(
    *, actor: Actor, group: Group, users: Sequence[User], applications: Sequence[Application]
) -> None:
    """Add several members at once, in one AddGroupMembers event."""
    members: list[User | Application] = [*users, *applications]
    for member in members:
        _check_member(group, member)
    group.users.add(*users)
    group.applications.add(*applications)
    group.save(update_fields=["updated_at"])
    iam_record(
        actor=actor,
        organization=group.organization,
        method_name="AddGroupMembers",
        resources=[group_resource(group)],
        request_body={"group_id": str(group.pk), **_members_body(users, applications)},
    )


@transaction.atomic
def group_members_set(
    *, actor: Actor, group: Group, users: Sequence[User], applications: Sequence[Application]
) -> None:
    """Make these exactly the group's members (SetGroupMembers)."""
    members: list[User | Application] = [*users, *applications]
    for member in members:
        _check_member(group, member)
    group.users.set(users)
    group.applications.set(applications)
    group.save(update_fields=["updated_at"])
    iam_record(
        actor=actor,
        organization=group.organization,
        method_name="SetGroupMembers",
        resources=[group_resource(group)],
        request_body={"group_id": str(group.pk), **_members_body(users, applications)},
    )
