from __future__ import annotations

import factory
from django.utils import timezone

from iam.models import Application, Group, Membership, Organization, Policy, Project, Rule, User

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.LazyAttribute(lambda o: o.email.split("@")[0])
    time_zone = "Europe/Paris"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # factory_boy passes the object first, not self
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    owner = factory.SubFactory(UserFactory)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    joined_at = factory.LazyFunction(timezone.now)


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"app-{n}")


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"group-{n}")


def grant(principal, organization, *permission_sets: str, project_ids: list[str] | None = None) -> Policy:
    """Give `principal` (user, application or group) a policy with one rule."""
    kwargs = {
        {"User": "user", "Application": "application", "Group": "group"}[type(principal).__name__]: principal
    }
    policy = Policy.objects.create(
        organization=organization, name=f"policy-{'-'.join(permission_sets)}", **kwargs
    )
    Rule.objects.create(
        policy=policy,
        permission_set_names=list(permission_sets),
        scope_type=Rule.ScopeType.PROJECTS if project_ids else Rule.ScopeType.ORGANIZATION,
        project_ids=project_ids or [],
    )
    return policy
