"""Policies and their rules: which permission sets a principal holds, and where."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from audit.services import Actor
from iam.models import Application, Group, Organization, Policy, Project, Rule, User
from iam.permission_sets import CATALOGUE
from iam.services._audit import delete_and_record, iam_record, policy_resource
from iam.services._common import IamError, is_member


@dataclass(frozen=True)
class RuleSpec:
    """One rule as the API takes it: permission sets plus a scope (organization, or projects)."""

    permission_set_names: Sequence[str]
    project_ids: Sequence[uuid.UUID | str] = ()

    def body(self, organization: Organization) -> dict[str, Any]:
        scope: dict[str, Any] = (
            {"project_ids": [str(p) for p in self.project_ids]}
            if self.project_ids
            else {"organization_id": str(organization.pk)}
        )
        return {"permission_set_names": list(self.permission_set_names), "condition": "", **scope}


PolicyPrincipal = User | Group | Application | None


def _principal_fields(principal: PolicyPrincipal) -> dict[str, Any]:
    return {
        "user": principal if isinstance(principal, User) else None,
        "group": principal if isinstance(principal, Group) else None,
        "application": principal if isinstance(principal, Application) else None,
    }


def _principal_body(principal: PolicyPrincipal) -> dict[str, Any]:
    if principal is None:
        return {"no_principal": True}
    key = {User: "user_id", Group: "group_id", Application: "application_id"}[type(principal)]
    return {key: str(principal.pk)}


def _check_policy(organization: Organization, principal: PolicyPrincipal, rules: Sequence[RuleSpec]) -> None:
    if not rules:
        raise IamError("A policy needs at least one rule.")
    if isinstance(principal, User):
        if not is_member(organization, principal):
            raise IamError("The user is not a member of the organization.")
    elif principal is not None and principal.organization_id != organization.pk:
        raise IamError("The principal belongs to another organization.")
    project_ids = {
        str(p) for p in Project.objects.filter(organization=organization).values_list("pk", flat=True)
    }
    for rule in rules:
        if not rule.permission_set_names:
            raise IamError("Each rule names at least one permission set.")
        unknown = [n for n in rule.permission_set_names if n not in CATALOGUE]
        if unknown:
            raise IamError(f"Unknown permission set: {', '.join(unknown)}.")
        if any(str(p) not in project_ids for p in rule.project_ids):
            raise IamError("A rule names a project outside the organization.")
        org_only = [n for n in rule.permission_set_names if CATALOGUE[n].scope_type == "organization"]
        if rule.project_ids and org_only:
            raise IamError(f"{', '.join(org_only)} can only be granted on the whole organization.")


def _ordered_ids(n: int) -> list[uuid.UUID]:
    """Random ids in ascending order: a policy's rules, read by primary key, keep the order given."""
    return sorted(uuid.uuid4() for _ in range(n))


def _write_rules(policy: Policy, rules: Sequence[RuleSpec]) -> None:
    policy.rules.all().delete()
    Rule.objects.bulk_create(
        Rule(
            id=rule_id,
            policy=policy,
            permission_set_names=list(dict.fromkeys(rule.permission_set_names)),
            scope_type=Rule.ScopeType.PROJECTS if rule.project_ids else Rule.ScopeType.ORGANIZATION,
            project_ids=[str(p) for p in rule.project_ids],
        )
        for rule_id, rule in zip(_ordered_ids(len(rules)), rules, strict=True)
    )


@transaction.atomic
def policy_create(
    *,
    actor: Actor,
    organization: Organization,
    name: str,
    description: str = "",
    principal: PolicyPrincipal = None,
    rules: Sequence[RuleSpec],
) -> Policy:
    """Create a policy and its rules (CreatePolicy). Raises IamError on a rule that cannot hold."""
    _check_policy(organization, principal, rules)
    policy = Policy.objects.create(
        organization=organization, name=name, description=description, **_principal_fields(principal)
    )
    _write_rules(policy, rules)
    iam_record(
        actor=actor,
        organization=organization,
        method_name="CreatePolicy",
        resources=[policy_resource(policy)],
        request_body={
            "name": name,
            "description": description,
            "organization_id": str(organization.pk),
            "rules": [r.body(organization) for r in rules],
            **_principal_body(principal),
        },
    )
    return policy


@transaction.atomic
def policy_update(
    *,
    actor: Actor,
    policy: Policy,
    name: str,
    description: str = "",
    principal: PolicyPrincipal = None,
    rules: Sequence[RuleSpec] | None,
) -> Policy:
    """Rename, re-target and overwrite the rules of a policy, in one UpdatePolicy event.

    `rules=None` keeps the rules as they are (the API's UpdatePolicy, which has no rules)."""
    organization = policy.organization
    if rules is None:
        _check_policy(organization, principal, [RuleSpec(permission_set_names=["IAMReadOnly"])])
    else:
        _check_policy(organization, principal, rules)
    policy.name = name
    policy.description = description
    for field, value in _principal_fields(principal).items():
        setattr(policy, field, value)
    policy.save()
    body: dict[str, Any] = {"policy_id": str(policy.pk), "name": name, "description": description}
    if rules is not None:
        _write_rules(policy, rules)
        body["rules"] = [r.body(organization) for r in rules]
    iam_record(
        actor=actor,
        organization=organization,
        method_name="UpdatePolicy",
        resources=[policy_resource(policy)],
        request_body={**body, **_principal_body(principal)},
    )
    return policy


@transaction.atomic
def policy_rules_set(*, actor: Actor, policy: Policy, rules: Sequence[RuleSpec]) -> list[Rule]:
    """Overwrite the rules of a policy (SetRules). Returns the new rules, in order."""
    organization = policy.organization
    _check_policy(organization, policy.principal, rules)
    _write_rules(policy, rules)
    policy.save(update_fields=["updated_at"])
    iam_record(
        actor=actor,
        organization=organization,
        method_name="SetRules",
        resources=[policy_resource(policy)],
        request_body={"policy_id": str(policy.pk), "rules": [r.body(organization) for r in rules]},
    )
    return list(policy.rules.order_by("pk"))


@transaction.atomic
def policy_clone(*, actor: Actor, policy: Policy) -> Policy:
    """A copy of the policy, its principal and its rules, named "<name> (copy)" (ClonePolicy)."""
    name = f"{policy.name[: Policy._meta.get_field('name').max_length - 7]} (copy)"  # type: ignore[operator]  # max_length is set
    clone = Policy.objects.create(
        organization=policy.organization,
        name=name,
        description=policy.description,
        user=policy.user,
        group=policy.group,
        application=policy.application,
    )
    rules = list(policy.rules.order_by("pk"))
    Rule.objects.bulk_create(
        Rule(
            id=rule_id,
            policy=clone,
            permission_set_names=rule.permission_set_names,
            scope_type=rule.scope_type,
            project_ids=rule.project_ids,
        )
        for rule_id, rule in zip(_ordered_ids(len(rules)), rules, strict=True)
    )
    iam_record(
        actor=actor,
        organization=policy.organization,
        method_name="ClonePolicy",
        resources=[policy_resource(clone)],
        request_body={"policy_id": str(policy.pk)},
    )
    return clone


@transaction.atomic
def policy_delete(*, actor: Actor, policy: Policy) -> None:
    delete_and_record(
        policy,
        actor=actor,
        organization=policy.organization,
        method_name="DeletePolicy",
        resource_of=policy_resource,
        id_field="policy_id",
    )
