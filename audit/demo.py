"""The demo: two organizations and a month of realistic Audit Trail events (`manage.py seed_demo`).

"Acme" has three projects, an owner, an auditor (AuditTrailReadOnly), an IAM manager, two
developers, a member without rights, a member who left, IAM applications with policies and an
API key. "Globex" is small and shows that organizations never see each other's events.

Events spread over fr-par, nl-ams and global (shown in fr-par), about 3% are 403s, some come
from the member who left (shown as "Unknown") and some from "Scaleway" itself. The last hour is
busy so that the Events page, whose default window is the last hour, is never empty.

Everything is idempotent: users, organizations and IAM objects are looked up before they are
made, and events are generated only when Acme has none yet (or when forced).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.catalogue import PRODUCTS, LocalityKind, Product
from audit.ids import uuid7
from audit.models import AuthenticationEvent, Event, PrincipalType
from audit.partitions import ensure_partitions
from audit.services import Actor, build_event, record_many
from iam.models import Application, Group, Membership, Organization, Policy, Project, User
from iam.services import (
    RuleSpec,
    api_key_create,
    application_create,
    group_create,
    group_member_add,
    organization_create,
    policy_create,
)

DEMO_PASSWORD = "audit-trail-demo"
ACME = "Acme"
GLOBEX = "Globex"
DEFAULT_EVENTS = 20_000
DEFAULT_DAYS = 30
FORBIDDEN_RATE = 0.03
LAST_HOUR_SHARE = 0.04  # ~800 of 20,000 events: a busy last hour, the console's default window
GLOBEX_SHARE = 0.02


# --- who is in the demo -------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str = DEMO_PASSWORD


LOGINS = (
    DemoLogin("Acme owner", "owner@acme.example"),
    DemoLogin("Acme auditor (AuditTrailReadOnly)", "auditor@acme.example"),
    DemoLogin("Acme member without rights (gets a 403)", "member@acme.example"),
    DemoLogin("Acme IAM manager (IAMManager)", "iam-manager@acme.example"),
    DemoLogin("Globex owner (the other organization)", "owner@globex.example"),
    DemoLogin("Django admin at /admin/ (staff)", "admin@audit-trail.example"),
)

# email: (first name, last name)
PEOPLE = {
    "owner@acme.example": ("Olivia", "Martin"),
    "auditor@acme.example": ("Aurélie", "Dubois"),
    "member@acme.example": ("Marc", "Petit"),
    "iam-manager@acme.example": ("Inès", "Garcia"),
    "lucas.bernard@acme.example": ("Lucas", "Bernard"),
    "chloe.moreau@acme.example": ("Chloé", "Moreau"),
    "former@acme.example": ("Farid", "Benali"),
    "owner@globex.example": ("Greta", "Lind"),
    "admin@audit-trail.example": ("Site", "Admin"),
}
ACME_PROJECTS = {
    "web-shop": "Customer-facing shop: instances, load balancers, databases",
    "data-lake": "Analytics pipelines in Amsterdam",
    "internal-tools": "CI runners, secrets and the intranet",
}
GLOBEX_PROJECTS = {"default": "Default project"}


# --- what they do: the catalogue's products, and the resources the demo's methods act on ----------
# Product, service and method names come from `audit.catalogue` (one source of truth with the
# Events page filters and ListProducts). The demo adds what the catalogue cannot know: which
# methods a healthy organization calls, and the names of the resources they touch.

# Methods the demo never calls at random: closing the organization, the sign-in dance (console
# sign-ins are AuthenticationEvents, below), SAML set-up and user lock-outs, and removing a user
# (the one removal is a story of its own: see `_removal`).
IAM_METHODS = frozenset({
    "AddGroupMember", "CreateAPIKey", "CreateApplication", "CreateGroup", "CreatePolicy", "CreateSSHKey",
    "CreateUser", "DeleteAPIKey", "DeleteApplication", "DeleteGroup", "DeletePolicy", "DeleteSSHKey",
    "RemoveGroupMember", "SetRules", "UpdateAPIKey", "UpdateApplication", "UpdateGroup", "UpdatePolicy",
    "UpdateSSHKey", "UpdateUser", "UpdateUserPassword",
})  # fmt: skip
EXCLUDED_METHODS = {"account": frozenset({"CloseOrganization"})}
# Products whose resources are the organization's own IAM and account objects (see `_Generator`),
# and whose events carry no project.
ORGANIZATION_PRODUCTS = ("account", "iam")


@dataclass(frozen=True)
class ResourcePool:
    """The names of the resources of one type that Acme (or Globex) has; `info` is the type's
    `<x>_info` key when it has one."""

    names: tuple[str, ...]
    info: str = ""


RESOURCE_POOLS: dict[str, ResourcePool] = {
    "apple_silicon_server": ResourcePool(("mac-ci-1", "mac-ci-2", "mac-build"), "apple_silicon_server_info"),
    "audit_trail_export_job": ResourcePool(("daily-export-s3", "siem-archive"), "audit_trail_export_job_info"),
    "audit_trail_alert_rule": ResourcePool(("ApiKeyCreated", "HttpForbiddenErrorRateHigh"),
                                           "audit_trail_alert_rule_info"),
    "audit_trail_custom_alert_rule": ResourcePool(("Secret deleted", "Policy with full access created")),
    "edge_services_pipeline": ResourcePool(("shop-cdn", "docs-cdn"), "edge_services_pipeline_info"),
    "edge_services_cache_stage": ResourcePool(("shop-cache", "docs-cache"), "edge_services_cache_stage_info"),
    "edge_services_tls_stage": ResourcePool(("shop-tls",), "edge_services_tls_stage_info"),
    "edge_services_waf_stage": ResourcePool(("shop-waf",)),
    "edge_services_backend_stage": ResourcePool(("shop-origin-lb", "docs-origin-s3")),
    "edge_services_dns_stage": ResourcePool(("cdn.acme.example", "docs.acme.example")),
    "baremetal_server": ResourcePool(("em-db-1", "em-db-2", "em-gpu-1"), "baremetal_server_info"),
    "instance_server": ResourcePool(("web-1", "web-2", "web-3", "worker-1", "bastion"), "instance_server_info"),
    "instance_volume": ResourcePool(("web-1-data", "worker-1-scratch")),
    "instance_snapshot": ResourcePool(("web-1-nightly", "bastion-weekly")),
    "instance_security_group": ResourcePool(("web-sg", "bastion-sg")),
    "instance_image": ResourcePool(("web-golden-2026-11", "worker-base")),
    "instance_placement_group": ResourcePool(("web-spread",)),
    "ipam_ip": ResourcePool(("172.16.4.10", "172.16.4.11", "172.16.8.2"), "ipam_ip_info"),
    "key_manager_key": ResourcePool(("db-encryption", "backup-kek", "signing-key"), "key_manager_key_info"),
    "kube_cluster": ResourcePool(("prod-k8s", "staging-k8s"), "kube_cluster_info"),
    "kube_pool": ResourcePool(("default", "gpu-pool", "spot")),
    "kube_node": ResourcePool(("scw-prod-k8s-default-7f3a", "scw-prod-k8s-default-91bc")),
    "kube_acl": ResourcePool(("office-ips", "ci-runners")),
    "load_balancer_lb": ResourcePool(("shop-lb", "api-lb"), "load_balancer_lb_info"),
    "load_balancer_backend": ResourcePool(("shop-backend", "api-backend")),
    "load_balancer_frontend": ResourcePool(("https-443", "http-80")),
    "load_balancer_certificate": ResourcePool(("shop-acme-example",)),
    "load_balancer_acl": ResourcePool(("block-scanners", "office-only-admin")),
    "load_balancer_ip": ResourcePool(("51.159.24.10", "51.159.24.11")),
    "load_balancer_route": ResourcePool(("api-by-host",)),
    "rdb_instance": ResourcePool(("shop-pg", "analytics-pg")),
    "rdb_instance_backup": ResourcePool(("shop-pg-daily", "analytics-pg-weekly")),
    "rdb_instance_snapshot": ResourcePool(("shop-pg-before-upgrade",)),
    "rdb_instance_endpoint": ResourcePool(("shop-pg-private",)),
    "rdb_instance_read_replica": ResourcePool(("shop-pg-replica",)),
    "rdb_instance_logs": ResourcePool(("shop-pg-logs",)),
    "mongodb_instance": ResourcePool(("catalog-mongo",)),
    "mongodb_instance_snapshot": ResourcePool(("catalog-mongo-daily",)),
    "mongodb_instance_endpoint": ResourcePool(("catalog-mongo-private",)),
    "vpc_gw_gateway": ResourcePool(("office-gw", "shop-gw"), "vpc_gw_gateway_info"),
    "vpc_gw_gateway_network": ResourcePool(("shop-gw-pn-shop",)),
    "vpc_gw_ip": ResourcePool(("51.15.200.7",)),
    "vpc_gw_pat_rule": ResourcePool(("bastion-ssh-2222",)),
    "secret_manager_secret": ResourcePool(("db-password", "stripe-api-key", "smtp-credentials", "jwt-signing-key"),
                                          "secret_manager_secret_info"),
    "secret_manager_version": ResourcePool(("db-password", "stripe-api-key", "jwt-signing-key")),
    "serverless_containers_container": ResourcePool(("shop-api", "image-resizer"),
                                                    "serverless_containers_container_info"),
    "serverless_containers_namespace": ResourcePool(("shop-ns",), "serverless_containers_namespace_info"),
    "serverless_containers_domain": ResourcePool(("api.acme.example",)),
    "serverless_containers_trigger": ResourcePool(("resize-on-upload",)),
    "vpc_private_network": ResourcePool(("pn-shop", "pn-data"), "vpc_private_network_info"),
    "vpc_vpc": ResourcePool(("main-vpc",)),
    "vpc_route": ResourcePool(("default-route",), "vpc_route_info"),
    "vpc_subnet": ResourcePool(("172.16.4.0/22", "172.16.8.0/22")),
    "vpc_acl": ResourcePool(("main-vpc-acl",)),
}  # fmt: skip
# Short-lived IAM and account objects that Create*/Delete* events are about (the demo's lasting
# objects are real rows, which no random event creates twice or deletes).
THROWAWAY_NAMES = {
    "iam_application": ("grafana-reader", "old-jenkins", "k6-load-test"),
    "iam_group": ("Contractors", "On-call", "Data team"),
    "iam_policy": ("Temporary access for the migration", "Contractors read-only", "Grafana read"),
    "iam_user": ("intern@acme.example", "contractor@partner.example", "consultant@audit-firm.example"),
    "account_project": ("sandbox", "poc-llm", "hackathon-2026"),
}


def demo_methods(product: Product) -> tuple[str, ...]:
    """The methods of `product` that the demo calls: those whose resources it can name."""
    if product.name == "iam":
        return tuple(m for m in product.methods if m in IAM_METHODS)
    excluded = EXCLUDED_METHODS.get(product.name, frozenset())
    return tuple(
        m
        for m in product.methods
        if m not in excluded
        and (product.name in ORGANIZATION_PRODUCTS or product.resource_type_of(m) in RESOURCE_POOLS)
    )


# The catalogue's products that the demo uses (every one it can fill with resources).
DEMO_PRODUCTS: tuple[Product, ...] = tuple(p for p in PRODUCTS if demo_methods(p))
IAM: Product = next(p for p in PRODUCTS if p.name == "iam")

# Plain-text secrets that a careless client sends: build_event must turn each into "REDACTED".
SECRET_BODIES: dict[str, dict[str, Any]] = {
    "ChangeUserPassword": {"password": "N3w-passw0rd!", "old_password": "0ld-passw0rd!"},
    "UpdateUserPassword": {"password": "Tr0ub4dor&3"},
    "CreateUser": {"name": "app", "password": "s3cr3t-db-pass", "is_admin": False},
    "UpdateUser": {"password": "r0tated-db-pass"},
    "CreateSecretVersion": {"secret_token": "sk_live_51H8abc", "description": "rotated by CI"},
    "ImportKeyMaterial": {"private_key": "-----BEGIN PRIVATE KEY-----MIIE…", "salt": None},
    "ResetClusterAdminToken": {"admin_token": "k8s-admin-token-3f9a"},
    "CreateExportJob": {"s3": {"bucket": "acme-audit-archive", "region": "fr-par", "prefix": "audit/"}},
}
# Methods the platform itself runs ("Scaleway"): auto-healing, migrations, maintenance.
SYSTEM_METHODS = {
    "kubernetes": ("ReplaceNode", "RebootNode", "UpgradePool"),
    "instance": ("ServerAction",),
    "load-balancer": ("MigrateLb",),
    "rdb": ("CreateDatabaseBackup", "UpgradeInstance"),
}

CONSOLE_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CLI_UA = "scaleway-cli/2.35.0 scaleway-sdk-go/v1.0.0-beta.30 (go1.23.2; darwin; arm64)"
TERRAFORM_UA = (
    "scaleway-sdk-go/v1.0.0-beta.30 (go1.23.2; linux; amd64) terraform-provider/v2.49.0 terraform/1.9.8"
)
SDK_GO_UA = "scaleway-sdk-go/v1.0.0-beta.30 (go1.23.2; linux; amd64)"
SDK_PYTHON_UA = "scaleway-sdk-python/2.12.0 (python 3.12.1; linux)"


@dataclass
class DemoPrincipal:
    """One actor of the demo and its habits."""

    actor: Actor
    weight: float
    products: dict[str, float]
    ips: tuple[str, ...]
    user_agents: tuple[str, ...]
    until: datetime | None = None  # a member who left acts no more after this
    projects: tuple[str, ...] = ()  # project names it works in (all when empty)

    def active_at(self, at: datetime) -> bool:
        return self.until is None or at < self.until


@dataclass
class DemoWorld:
    acme: Organization
    globex: Organization
    projects: dict[str, list[Project]]  # organization id -> projects
    users: dict[str, User]  # email -> user
    applications: dict[str, Application]
    groups: list[Group]
    policies: list[Policy]
    removed_at: datetime
    api_key: tuple[str, str] | None = None  # (access key, secret) when created on this run


@dataclass
class DemoResult:
    world: DemoWorld
    events: int = 0
    sign_ins: int = 0
    skipped: bool = False
    seconds: float = 0.0
    logins: Sequence[DemoLogin] = field(default=LOGINS)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


# --- the organizations --------------------------------------------------------------------------


def _user(email: str, **extra: Any) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        first, last = PEOPLE[email]
        user = User.objects.create_user(
            email=email, password=DEMO_PASSWORD, first_name=first, last_name=last, **extra
        )
    return user


def _organization(name: str, owner: User, projects: dict[str, str]) -> tuple[Organization, list[Project]]:
    """The organization, created as on Scaleway the first time: "Scaleway" makes its default groups."""
    organization = Organization.objects.filter(name=name, owner=owner).first()
    if organization is None:
        organization = organization_create(name=name, owner=owner, request_id=str(uuid.uuid4()))
    made = []
    for project_name, description in projects.items():
        project, _ = Project.objects.get_or_create(
            organization=organization, name=project_name, defaults={"description": description}
        )
        made.append(project)
    return organization, made


def _member(organization: Organization, user: User, *, removed_at: datetime | None = None) -> Membership:
    membership = Membership.objects.filter(organization=organization, user=user).first()
    if membership is None:
        membership = Membership.objects.create(
            organization=organization, user=user, joined_at=timezone.now() - timedelta(days=400)
        )
        if removed_at is not None:
            membership.removed_at = removed_at
            membership.save(update_fields=["removed_at"])
    return membership


def _console(user: User, ip: str, user_agent: str = CONSOLE_UA) -> Callable[[], Actor]:
    """`user` at the console: each call is a new request (its own request ID)."""
    return lambda: Actor(PrincipalType.USER, user.pk, user.email, ip, user_agent, str(uuid.uuid4()))


def _application(
    organization: Organization, as_: Callable[[], Actor], name: str, description: str
) -> Application:
    found = Application.objects.filter(organization=organization, name=name).first()
    return found or application_create(
        actor=as_(), organization=organization, name=name, description=description
    )


def _group(
    organization: Organization,
    as_: Callable[[], Actor],
    name: str,
    description: str,
    members: Sequence[User | Application],
) -> Group:
    group = Group.objects.filter(organization=organization, name=name).first()
    if group is None:
        group = group_create(actor=as_(), organization=organization, name=name, description=description)
    present = {*group.users.values_list("pk", flat=True), *group.applications.values_list("pk", flat=True)}
    for member in members:
        if member.pk not in present:
            group_member_add(actor=as_(), group=group, member=member)
    return group


def _policy(
    organization: Organization,
    as_: Callable[[], Actor],
    name: str,
    permission_sets: list[str],
    principal: User | Group | Application,
    *,
    projects: Sequence[Project] = (),
) -> Policy:
    policy = Policy.objects.filter(organization=organization, name=name).first()
    if policy is None:
        policy = policy_create(
            actor=as_(),
            organization=organization,
            name=name,
            principal=principal,
            rules=[RuleSpec(permission_set_names=permission_sets, project_ids=[p.pk for p in projects])],
        )
    return policy


@transaction.atomic
def demo_world_ensure(*, now: datetime | None = None) -> DemoWorld:
    """Get or create the demo's organizations, people, projects and IAM objects. Idempotent.

    What the product itself would audit goes through the real services, so the first run leaves
    its trail: "Scaleway" creating each organization's default groups, the owner granting the
    auditor and the IAM manager their rights, the IAM manager setting up applications, groups and
    policies, and the owner creating the siem-exporter application's API key (its secret is
    returned in `api_key` on that run only). Later runs find everything and record nothing.
    People and memberships predate the trail (a year ago), so they are made directly.
    """
    now = now or timezone.now()
    emails = list(PEOPLE)
    users = {email: _user(email) for email in emails if email != "admin@audit-trail.example"}
    users["admin@audit-trail.example"] = _user("admin@audit-trail.example", is_staff=True, is_superuser=True)

    acme, acme_projects = _organization(ACME, users["owner@acme.example"], ACME_PROJECTS)
    globex, globex_projects = _organization(GLOBEX, users["owner@globex.example"], GLOBEX_PROJECTS)
    by_name = {p.name: p for p in acme_projects}

    for email in (
        "owner@acme.example",
        "auditor@acme.example",
        "member@acme.example",
        "iam-manager@acme.example",
        "lucas.bernard@acme.example",
        "chloe.moreau@acme.example",
    ):
        _member(acme, users[email])
    former = _member(acme, users["former@acme.example"], removed_at=now - timedelta(days=2, hours=3))
    _member(globex, users["owner@globex.example"])

    owner = _console(users["owner@acme.example"], "81.250.12.34")
    manager = _console(users["iam-manager@acme.example"], "81.250.12.40", FIREFOX_UA)
    policies = [
        _policy(acme, owner, "IAM management", ["IAMManager"], users["iam-manager@acme.example"]),
        _policy(acme, owner, "Audit Trail read-only", ["AuditTrailReadOnly"], users["auditor@acme.example"]),
    ]
    applications = {
        name: _application(acme, manager, name, description)
        for name, description in {
            "terraform-ci": "Terraform pipelines in GitLab CI",
            "backup-bot": "Nightly snapshots and database backups",
            "siem-exporter": "Ships the audit trail to the SOC's SIEM",
        }.items()
    }
    developers = _group(
        acme,
        manager,
        "Developers",
        "Product engineers",
        [users["lucas.bernard@acme.example"], users["chloe.moreau@acme.example"]],
    )
    automation = _group(
        acme,
        manager,
        "Automation",
        "Machine principals",
        [applications["terraform-ci"], applications["backup-bot"]],
    )
    policies += [
        _policy(
            acme,
            manager,
            "Developers full access",
            ["AllProductsFullAccess"],
            developers,
            projects=[by_name["web-shop"], by_name["data-lake"]],
        ),
        _policy(
            acme,
            manager,
            "Terraform CI",
            ["AllProductsFullAccess"],
            applications["terraform-ci"],
            projects=acme_projects,
        ),
        _policy(
            acme,
            manager,
            "Backups",
            ["InstancesFullAccess"],
            applications["backup-bot"],
            projects=[by_name["web-shop"]],
        ),
        _policy(acme, manager, "SIEM export", ["AuditTrailReadOnly"], applications["siem-exporter"]),
    ]

    api_key = None
    exporter = applications["siem-exporter"]
    if not exporter.api_keys.exists():
        key, secret = api_key_create(
            actor=owner(), organization=acme, application=exporter, description="SIEM export (demo)"
        )
        api_key = (key.access_key, secret)

    return DemoWorld(
        acme=acme,
        globex=globex,
        projects={str(acme.pk): acme_projects, str(globex.pk): globex_projects},
        users=users,
        applications=applications,
        groups=[developers, automation],
        policies=policies,
        removed_at=former.removed_at or now,
        api_key=api_key,
    )


# --- the events ---------------------------------------------------------------------------------


def _principals(world: DemoWorld) -> tuple[list[DemoPrincipal], list[DemoPrincipal], list[DemoPrincipal]]:
    """Acme's actors for successful calls, Acme's actors for refused calls, and Globex's actors."""
    u, a = world.users, world.applications
    everything = {p.name: 1.0 for p in DEMO_PRODUCTS}
    infra = {"instance": 5, "kubernetes": 4, "load-balancer": 3, "vpc": 2, "rdb": 2, "vpc-gw": 1, "ipam": 1}

    def person(email: str, weight: float, products: dict[str, float], ips: tuple[str, ...], uas, **kw):
        return DemoPrincipal(Actor.of(u[email]), weight, products, ips, uas, **kw)

    def app(name: str, weight: float, products: dict[str, float], ips: tuple[str, ...], uas, **kw):
        return DemoPrincipal(Actor.of(a[name]), weight, products, ips, uas, **kw)

    ok = [
        person("owner@acme.example", 14, everything | {"account": 3, "iam": 3}, ("81.250.12.34",
               "2a01:cb00:8a2:1f00::4e"), (CONSOLE_UA, CONSOLE_UA, CLI_UA)),
        person("iam-manager@acme.example", 8, {"iam": 12, "account": 2, "audit-trail": 1},
               ("81.250.12.40",), (CONSOLE_UA, FIREFOX_UA)),
        person("lucas.bernard@acme.example", 12, infra | {"serverless-containers": 3, "secret-manager": 2},
               ("88.163.45.201",), (CLI_UA, CONSOLE_UA), projects=("web-shop", "data-lake")),
        person("chloe.moreau@acme.example", 10, infra | {"edge-services": 2, "key-manager": 2, "apple-silicon": 2},
               ("90.112.7.19", "2a01:e0a:2b1:4f80::1"), (FIREFOX_UA, CLI_UA), projects=("web-shop", "data-lake")),
        person("former@acme.example", 6, infra | {"secret-manager": 3, "baremetal": 2},
               ("78.193.66.140",), (CONSOLE_UA, CLI_UA), until=world.removed_at),
        app("terraform-ci", 22, infra | {"secret-manager": 2, "edge-services": 1, "baremetal": 1},
            ("51.158.96.22", "51.158.96.23"), (TERRAFORM_UA,)),
        app("backup-bot", 8, {"instance": 3, "rdb": 2}, ("163.172.180.44",), (SDK_GO_UA,), projects=("web-shop",)),
        app("siem-exporter", 1, {"audit-trail": 1}, ("212.47.239.10",), (SDK_PYTHON_UA,)),
        DemoPrincipal(Actor.system(), 6, dict.fromkeys(SYSTEM_METHODS, 1), (), ("",)),
    ]  # fmt: skip
    refused = [
        person("member@acme.example", 4, everything, ("92.184.108.3",), (CONSOLE_UA,)),
        person("auditor@acme.example", 2, {"instance": 1, "iam": 2, "audit-trail": 2, "secret-manager": 1},
               ("81.250.12.51",), (CONSOLE_UA,)),
        person("lucas.bernard@acme.example", 2, {"iam": 2, "instance": 1, "rdb": 1}, ("88.163.45.201",), (CLI_UA,)),
        app("terraform-ci", 1, {"iam": 1, "key-manager": 1}, ("51.158.96.22",), (TERRAFORM_UA,)),
        app("siem-exporter", 1, {"audit-trail": 1}, ("212.47.239.10",), (SDK_PYTHON_UA,)),
    ]  # fmt: skip
    globex_owner = world.globex.owner
    globex = [
        DemoPrincipal(Actor.of(globex_owner), 3, {"instance": 3, "load-balancer": 1, "secret-manager": 1, "kubernetes": 1},
                      ("194.2.150.77",), (CONSOLE_UA, CLI_UA)),
        DemoPrincipal(Actor.system(), 1, {"kubernetes": 1}, (), ("",)),
    ]  # fmt: skip
    return ok, refused, globex


@dataclass
class _Pick:
    """A weighted choice made once and sampled many times (random.choices recomputes the sums)."""

    items: list[Any]
    cum: list[float]

    @classmethod
    def of(cls, weighted: dict[Any, float] | list[tuple[Any, float]]) -> _Pick:
        pairs = list(weighted.items()) if isinstance(weighted, dict) else list(weighted)
        total, cum = 0.0, []
        for _, w in pairs:
            total += w
            cum.append(total)
        return cls([item for item, _ in pairs], cum)

    def __call__(self, rng: random.Random) -> Any:
        x = rng.random() * self.cum[-1]
        lo, hi = 0, len(self.cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.cum[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        return self.items[lo]


def _method_weight(method: str) -> float:
    """Updates are common, deletions rarer, and API keys change a few times a week at most (each
    one is an alert in the demo: ApiKeyCreated, ApiKeyDeleted)."""
    if "APIKey" in method:
        return 0.08
    if method.startswith(("Delete", "Destroy")):
        return 0.4
    return 1.5 if method.startswith("Update") else 1.0


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Generator:
    """Builds the events of one organization. Resources are drawn from stable pools so that the
    same instance or secret recurs across days and "filter by resource ID" tells its story."""

    def __init__(
        self,
        world: DemoWorld,
        organization: Organization,
        principals: list[DemoPrincipal],
        rng: random.Random,
        pools: dict[tuple[str, str], list[dict[str, Any]]],
    ) -> None:
        self.world, self.organization, self.rng = world, organization, rng
        self.products = {p.name: p for p in DEMO_PRODUCTS}
        self.projects = world.projects[str(organization.pk)]
        self.pick_principal = _Pick.of([(p, p.weight) for p in principals])
        self.pick_product = {id(p): _Pick.of(p.products) for p in principals}
        self.pools = pools
        self.region_of_project = {
            "web-shop": _Pick.of({"fr-par": 8, "nl-ams": 2}),
            "data-lake": _Pick.of({"fr-par": 3, "nl-ams": 7}),
            "internal-tools": _Pick.of({"fr-par": 9, "nl-ams": 1}),
            "default": _Pick.of({"fr-par": 6, "nl-ams": 4}),
        }
        self.methods = {
            product.name: _Pick.of([(method, _method_weight(method)) for method in demo_methods(product)])
            for product in DEMO_PRODUCTS
        }

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def principal(self, at: datetime) -> DemoPrincipal:
        for _ in range(20):
            principal = self.pick_principal(self.rng)
            if principal.active_at(at):
                return principal
        return next(p for p in self.pick_principal.items if p.active_at(at))

    def pool(self, resource_type: str, project: Project | None) -> list[dict[str, Any]]:
        key = (resource_type, str(project.pk) if project else "")
        if key not in self.pools:
            kind = RESOURCE_POOLS[resource_type]
            born = timezone.now() - timedelta(days=self.rng.randint(40, 400))
            self.pools[key] = [
                {
                    "id": self.uuid4(),
                    "type": resource_type,
                    "name": name,
                    "created_at": _iso(born),
                    "updated_at": _iso(born),
                    "deleted_at": None,
                    **({kind.info: self._info(kind.info, name)} if kind.info else {}),
                }
                for name in kind.names
            ]
        return self.pools[key]

    def _info(self, info: str, name: str) -> dict[str, Any]:
        match info:
            case "secret_manager_secret_info":
                return {"path": "/", "key_id": None}
            case "instance_server_info" | "load_balancer_lb_info" | "edge_services_pipeline_info":
                return {"name": name}
            case "ipam_ip_info":
                return {"address": name if name[0].isdigit() else "172.16.4.10"}
            case "baremetal_server_info":
                return {"description": "", "tags": ["prod"]}
            case "apple_silicon_server_info":
                return {"id": self.uuid4(), "name": name}
            case "vpc_private_network_info":
                return {"vpc_id": self.uuid4(), "push_default_route": True}
            case "vpc_route_info":
                return {"vpc_id": self.uuid4(), "destination": "0.0.0.0/0"}
            case "vpc_gw_gateway_info":
                return {"gateway_type_id": "VPC-GW-S", "vpc_id": None, "public_ip_id": self.uuid4()}
            case "serverless_containers_container_info":
                return {"namespace_id": self.uuid4()}
            case _:
                return {}

    def _throwaway(self, resource_type: str) -> dict[str, Any]:
        """A short-lived object that a Create or Delete event is about (a fresh id each time)."""
        name = self.rng.choice(THROWAWAY_NAMES[resource_type])
        return {"id": self.uuid4(), "type": resource_type, "name": name}

    def _iam_resource(self, method: str, resource_type: str) -> dict[str, Any]:
        rng, world = self.rng, self.world
        short_lived = method.startswith(("Create", "Delete"))
        if resource_type == "iam_api_key":
            key = "SCW" + "".join(rng.choice("ABCDEFGHJKMNPQRSTVWXYZ0123456789") for _ in range(17))
            return {"id": key, "type": "iam_api_key", "name": rng.choice(["ci deploy key", "laptop", None])}
        if resource_type == "iam_ssh_key":
            return {
                "id": self.uuid4(),
                "type": "iam_ssh_key",
                "name": rng.choice(["laptop-ed25519", "ci-runner"]),
            }
        if short_lived:
            return self._throwaway(resource_type)
        if resource_type == "iam_application":
            application = rng.choice(list(world.applications.values()))
            return {"id": str(application.pk), "type": resource_type, "name": application.name}
        if resource_type == "iam_group":
            group = rng.choice(world.groups)
            return {"id": str(group.pk), "type": resource_type, "name": group.name}
        if resource_type in ("iam_policy", "iam_rule"):  # SetRules rewrites a policy's rules
            policy = rng.choice(world.policies)
            return {"id": str(policy.pk), "type": resource_type, "name": policy.name}
        user = world.users[rng.choice(["lucas.bernard@acme.example", "chloe.moreau@acme.example"])]
        return {"id": str(user.pk), "type": "iam_user", "name": user.email}

    def _account_resource(
        self, method: str, resource_type: str, principal: DemoPrincipal, project: Project
    ) -> dict[str, Any]:
        if resource_type == "account_organization":
            return {"id": str(self.organization.pk), "type": resource_type, "name": self.organization.name}
        if resource_type == "account_project":
            if method.startswith(("Create", "Delete")):
                return self._throwaway(resource_type)
            info = {"account_project_info": {"description": project.description}}
            return {"id": str(project.pk), "type": resource_type, "name": project.name, **info}
        # A user acts on their own account (password, MFA, preferences).
        email = principal.actor.principal_name
        return {
            "id": str(principal.actor.principal_id),
            "type": "account_user",
            "name": email,
            "account_user_info": {"email": email, "phone_number": None},
        }

    def resource(
        self, product: Product, method: str, principal: DemoPrincipal, project: Project
    ) -> dict[str, Any]:
        resource_type = product.resource_type_of(method) or ""
        if product.name == "iam":
            return self._iam_resource(method, resource_type)
        if product.name == "account":
            return self._account_resource(method, resource_type, principal, project)
        return self.rng.choice(self.pool(resource_type, project))

    def body(self, method: str, resource: dict[str, Any], project: Project | None) -> dict[str, Any]:
        noun = resource["type"].rsplit("_", 1)[-1]
        if method.startswith("Create"):
            body: dict[str, Any] = {"name": resource["name"]}
            if project is not None:
                body["project_id"] = str(project.pk)
            body["tags"] = self.rng.choice([[], ["prod"], ["terraform"], ["team:web", "prod"]])
        elif method.startswith("Update") or method.startswith("Set"):
            body = {f"{noun}_id": resource["id"], "name": resource["name"]}
        elif method == "ServerAction":
            body = {"server_id": resource["id"], "action": self.rng.choice(["poweron", "poweroff", "reboot"])}
        else:
            body = {f"{noun}_id": resource["id"]}
        return body | SECRET_BODIES.get(method, {})

    def locality(self, product: Product, project: Project, region: str | None = None) -> str:
        """Global, the project's region (or `region`), or a zone of it, as the product is filed."""
        if product.locality_kind is LocalityKind.GLOBAL:
            return "global"
        region = region or self.region_of_project.get(project.name, self.region_of_project["default"])(
            self.rng
        )
        if region not in product.regions:
            region = product.regions[0]
        if product.locality_kind is LocalityKind.ZONAL:
            return f"{region}-{self.rng.choice('112' if region == 'fr-par' else '123')}"
        return region

    def event(
        self,
        at: datetime,
        *,
        forbidden: bool,
        principal: DemoPrincipal | None = None,
        product_name: str | None = None,
        method: str | None = None,
        region: str | None = None,
    ) -> Event:
        """One event at `at`; the principal, product, method and region are drawn unless given."""
        rng = self.rng
        principal = principal or self.principal(at)
        product = self.products[product_name or self.pick_product[id(principal)](rng)]
        if method is None and principal.actor.principal_type == PrincipalType.SYSTEM:
            method = rng.choice(SYSTEM_METHODS.get(product.name, ("ReplaceNode",)))
        elif method is None:
            method = self.methods[product.name](rng)
        service = product.service_of(method)
        assert service is not None  # demo methods come from the product's own services
        choices = [p for p in self.projects if not principal.projects or p.name in principal.projects]
        home = rng.choice(choices or self.projects)
        locality = self.locality(product, home, region)
        resource = self.resource(product, method, principal, home)
        # IAM and account events are about the organization: they carry no project.
        project = None if product.name in ORGANIZATION_PRODUCTS else home
        actor = Actor(
            principal_type=principal.actor.principal_type,
            principal_id=principal.actor.principal_id,
            principal_name=principal.actor.principal_name,
            source_ip=rng.choice(principal.ips) if principal.ips else None,
            user_agent=rng.choice(principal.user_agents),
            request_id=self.uuid4(),
        )
        return build_event(
            organization_id=self.organization.pk,
            actor=actor,
            product_name=product.name,
            service_name=service.name,
            method_name=method,
            locality=locality,
            status_code=403 if forbidden else 200,
            project_id=project.pk if project else None,
            # A refused call touched nothing: Scaleway logs it without resources.
            resources=[] if forbidden else [resource],
            request_body=self.body(method, resource, project),
            recorded_at=at,
        )


def _moments(rng: random.Random, count: int, *, now: datetime, days: int) -> list[datetime]:
    """`count` instants over the last `days` days, busier on weekday working hours (Paris), with
    LAST_HOUR_SHARE of them in the last hour. Sorted, oldest first."""
    last_hour = min(count, max(round(count * LAST_HOUR_SHARE), 40))
    moments = [now - timedelta(seconds=rng.random() * 3600) for _ in range(last_hour)]
    span = max(days * 86400 - 3600, 1)
    start = now - timedelta(days=days)
    hour_weight = [0.12] * 7 + [0.5, 0.9] + [1.0] * 10 + [0.6, 0.4, 0.3, 0.2, 0.15]
    while len(moments) < count:
        at = start + timedelta(seconds=rng.random() * span)
        paris = at + timedelta(hours=1)
        weight = hour_weight[paris.hour] * (1.0 if paris.weekday() < 5 else 0.35)
        if rng.random() < weight:
            moments.append(at)
    moments.sort()
    return moments


def demo_events(
    world: DemoWorld, *, count: int, days: int, now: datetime, rng: random.Random
) -> Iterator[Event]:
    """`count` unsaved events for Acme and Globex, oldest first, ready for `record_many`."""
    ok, refused, globex_principals = _principals(world)
    pools: dict[tuple[str, str], list[dict[str, Any]]] = {}
    acme_ok = _Generator(world, world.acme, ok, rng, pools)
    acme_refused = _Generator(world, world.acme, refused, rng, pools)
    globex = _Generator(world, world.globex, globex_principals, rng, {})
    member = refused[0]

    # Moments with a story: the member without rights trying again and again to create an instance
    # in Paris 25 minutes ago (a burst of 403s in one region, enough for fr-par's
    # HttpForbiddenErrorRateHigh: more than 20 in 5 minutes), and the owner removing the member
    # who left.
    special: list[tuple[datetime, str]] = []
    if count >= 2000:
        special += [(now - timedelta(minutes=27) + timedelta(seconds=10 * i), "burst") for i in range(24)]
    if count >= 2 and world.removed_at > now - timedelta(days=days):
        special.append((world.removed_at, "removal"))

    moments = _moments(rng, count - len(special), now=now, days=days)
    globex_count = round(len(moments) * GLOBEX_SHARE) if len(moments) >= 50 else 0
    globex_at = set(rng.sample(range(len(moments)), globex_count))
    timeline = sorted([(at, i) for i, at in enumerate(moments)] + special, key=lambda pair: pair[0])
    for at, what in timeline:
        if what == "burst":
            yield acme_refused.event(
                at,
                forbidden=True,
                principal=member,
                product_name="instance",
                method="CreateServer",
                region="fr-par",
            )
        elif what == "removal":
            yield _removal(world, ok)
        elif what in globex_at:
            yield globex.event(at, forbidden=rng.random() < FORBIDDEN_RATE)
        elif rng.random() < FORBIDDEN_RATE:
            yield acme_refused.event(at, forbidden=True)
        else:
            yield acme_ok.event(at, forbidden=False)


def _removal(world: DemoWorld, principals: list[DemoPrincipal]) -> Event:
    """The owner removes the member who left (Scaleway IAM's DeleteUser)."""
    owner = next(p for p in principals if p.actor.principal_id == world.acme.owner_id)
    former = world.users["former@acme.example"]
    return build_event(
        organization_id=world.acme.pk,
        actor=Actor(
            principal_type=owner.actor.principal_type,
            principal_id=owner.actor.principal_id,
            principal_name=owner.actor.principal_name,
            source_ip=owner.ips[0],
            user_agent=CONSOLE_UA,
            request_id=str(uuid.uuid4()),
        ),
        product_name="iam",
        service_name=IAM.service_of("DeleteUser").name,  # type: ignore[union-attr]
        method_name="DeleteUser",
        locality="global",
        resources=[
            {
                "id": str(former.pk),
                "type": "iam_user",
                "name": former.email,
                "created_at": _iso(former.date_joined),
                "updated_at": _iso(world.removed_at),
                "deleted_at": _iso(world.removed_at),
            }
        ],
        request_body={"user_id": str(former.pk)},
        recorded_at=world.removed_at,
    )


# --- console sign-ins ---------------------------------------------------------------------------

# email: (IP, browser, MFA type): each person signs in from their usual place.
SIGN_IN_HABITS = {
    "owner@acme.example": ("81.250.12.34", CONSOLE_UA, "totp"),
    "auditor@acme.example": ("81.250.12.51", CONSOLE_UA, ""),
    "member@acme.example": ("92.184.108.3", CONSOLE_UA, ""),
    "iam-manager@acme.example": ("81.250.12.40", FIREFOX_UA, "totp"),
    "lucas.bernard@acme.example": ("88.163.45.201", CONSOLE_UA, ""),
    "chloe.moreau@acme.example": ("90.112.7.19", FIREFOX_UA, ""),
    "former@acme.example": ("78.193.66.140", CONSOLE_UA, ""),
    "owner@globex.example": ("194.2.150.77", CONSOLE_UA, ""),
}
ATTACKER_IP = "185.220.101.47"  # a Tor exit node
SCRIPT_UA = "python-requests/2.32.3"
Result, Reason = AuthenticationEvent.Result, AuthenticationEvent.FailureReason


def demo_sign_ins(
    world: DemoWorld, *, days: int, now: datetime, rng: random.Random
) -> list[AuthenticationEvent]:
    """Console sign-in attempts over the last `days` days, oldest first, unsaved.

    Each person signs in most working mornings (Paris time) from their usual IP, now and then
    after mistyping their password; the member who left stops when they left. Two stories: three
    nights ago someone tried the owner's password from a Tor exit node until the throttle
    locked them out, and tried an address that does not exist (filed under no organization).
    The auditor signed in a few minutes ago.
    """
    organization_of = dict.fromkeys(SIGN_IN_HABITS, world.acme.pk) | {"owner@globex.example": world.globex.pk}
    attempts: list[AuthenticationEvent] = []

    def attempt(
        at: datetime,
        email: str,
        result: str,
        *,
        reason: str = "",
        ip: str | None = None,
        user_agent: str | None = None,
        organization: bool = True,
    ) -> None:
        if at > now:
            return
        user = world.users.get(email)
        habit_ip, habit_ua, mfa = SIGN_IN_HABITS.get(email, ("", "", ""))
        attempts.append(
            AuthenticationEvent(
                id=uuid7(at),
                recorded_at=at,
                organization_id=organization_of.get(email) if organization else None,
                user_id=user.pk if user else None,
                email=email,
                source_ip=ip or habit_ip,
                user_agent=user_agent or habit_ua,
                result=result,
                failure_reason=reason,
                mfa_type=mfa if result == Result.SUCCESS else "",
            )
        )

    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(days, -1, -1):
        day = today - timedelta(days=back)
        working = day.weekday() < 5
        for email in SIGN_IN_HABITS:
            if rng.random() > (0.8 if working else 0.08):
                continue
            # 07:00-09:30 UTC, i.e. 08:00-10:30 in Paris.
            at = day + timedelta(hours=7, seconds=rng.random() * 9000)
            if email == "former@acme.example" and at >= world.removed_at:
                continue
            if rng.random() < 0.06:
                attempt(
                    at - timedelta(seconds=rng.randint(15, 90)),
                    email,
                    Result.FAILURE,
                    reason=Reason.INVALID_PASSWORD,
                )
            attempt(at, email, Result.SUCCESS)

    night = today - timedelta(days=3) + timedelta(hours=2, minutes=14)
    for i in range(5):
        attempt(night + timedelta(seconds=7 * i), "owner@acme.example", Result.FAILURE,
                reason=Reason.INVALID_PASSWORD, ip=ATTACKER_IP, user_agent=SCRIPT_UA)  # fmt: skip
    for i in range(5, 8):
        attempt(night + timedelta(seconds=7 * i), "owner@acme.example", Result.FAILURE,
                reason=Reason.THROTTLED, ip=ATTACKER_IP, user_agent=SCRIPT_UA)  # fmt: skip
    for i in range(3):
        attempt(night + timedelta(minutes=2, seconds=9 * i), "admin@acme.example", Result.FAILURE,
                reason=Reason.UNKNOWN_USER, ip=ATTACKER_IP, user_agent=SCRIPT_UA, organization=False)  # fmt: skip
    attempt(now - timedelta(minutes=12), "auditor@acme.example", Result.SUCCESS)
    attempts.sort(key=lambda event: event.recorded_at)
    return attempts


def demo_sign_ins_record(sign_ins: Sequence[AuthenticationEvent]) -> int:
    """Store the demo's sign-ins in one batch. AuthenticationEvent is append-only like Event, and
    only the demo writes it in bulk (the login view records one attempt at a time)."""
    return len(AuthenticationEvent.objects.bulk_create(sign_ins, batch_size=1000))


# --- loading it all -----------------------------------------------------------------------------

# The products the console audits by itself (IAM changes, alert settings): their events are no
# sign that the demo's history was loaded.
CONSOLE_PRODUCTS = ("iam", "audit-trail")


def _acme_has_events() -> bool:
    """Whether Acme's history is loaded: events from products other than the console's own, whose
    set-up events (default groups, policies, API key, alerting) do not count."""
    acme = Organization.objects.filter(name=ACME, owner__email=LOGINS[0].email).first()
    return (
        acme is not None
        and Event.objects.filter(organization_id=acme.pk).exclude(product_name__in=CONSOLE_PRODUCTS).exists()
    )


def demo_seed(
    *,
    events: int = DEFAULT_EVENTS,
    days: int = DEFAULT_DAYS,
    force: bool = False,
    now: datetime | None = None,
    seed: int | None = None,
) -> DemoResult:
    """Ensure the demo world, then append `events` events over the last `days` days.

    Events are skipped when Acme already has some, unless `force`. The first load also records
    the console sign-ins of those days (`--force` adds events only). On PostgreSQL the monthly
    partitions reaching back `days` are made first, so that old events do not land in the
    default partition. Cost: one `record_many` (one transaction, batched INSERTs) and one
    batched insert of sign-ins.
    """
    if events < 0 or days < 1:
        raise ValueError("events must be 0 or more and days 1 or more.")
    now = now or timezone.now()
    already_seeded = _acme_has_events()
    world = demo_world_ensure(now=now)
    result = DemoResult(world=world)
    if events == 0 or (already_seeded and not force):
        result.skipped = events > 0
        return result
    started = time.perf_counter()
    ensure_partitions(months_back=days // 28 + 1)
    rng = random.Random(seed)
    with transaction.atomic():
        result.events = record_many(demo_events(world, count=events, days=days, now=now, rng=rng))
        if not already_seeded:
            result.sign_ins = demo_sign_ins_record(demo_sign_ins(world, days=days, now=now, rng=rng))
    result.seconds = time.perf_counter() - started
    return result
