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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import Event, PrincipalType
from audit.partitions import ensure_partitions
from audit.services import Actor, build_event, record_many
from iam.models import Application, Group, Membership, Organization, Policy, Project, Rule, User
from iam.services import api_key_create

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


# --- what they do: products as Audit Trail lists them (ListProducts shape) ------------------------
# Real product names, service names and audited methods (reference §5.2 and Scaleway's docs).

PRODUCTS: list[dict[str, Any]] = [
    {"title": "Account", "name": "account", "services": [
        {"name": "scaleway.account.v3.ProjectApi", "methods": ["CreateProject", "DeleteProject", "UpdateProject"]},
        {"name": "scaleway.account.v3.UserApi", "methods": [
            "ChangeUserPassword", "CreateMFAOTP", "UpdateUser", "UpdateUserPreferences", "ValidateMFAOTP"]},
    ]},
    {"title": "Apple Silicon", "name": "apple-silicon", "services": [
        {"name": "scaleway.apple_silicon.v1alpha1.Api", "methods": [
            "CreateServer", "DeleteServer", "RebootServer", "ReinstallServer", "UpdateServer"]},
    ]},
    {"title": "Audit Trail", "name": "audit-trail", "services": [
        {"name": "scaleway.audit_trail.v1alpha1.Api", "methods": [
            "CreateExportJob", "DeleteExportJob", "DisableAlertRules", "EnableAlertRules"]},
    ]},
    {"title": "Edge Services", "name": "edge-services", "services": [
        {"name": "scaleway.edge_services.v1beta1.Api", "methods": [
            "CreateCacheStage", "CreatePipeline", "CreateTLSStage", "CreateWafStage", "DeletePipeline",
            "PurgeCache", "UpdatePipeline", "UpdateTLSStage"]},
    ]},
    {"title": "Elastic Metal", "name": "baremetal", "services": [
        {"name": "scaleway.baremetal.v1.Api", "methods": [
            "CreateServer", "DeleteServer", "InstallServer", "RebootServer", "StartBMCAccess", "StartServer",
            "StopServer", "UpdateServer"]},
    ]},
    {"title": "IAM", "name": "iam", "services": [
        {"name": "scaleway.iam.v1alpha1.Api", "methods": [
            "AddGroupMember", "CreateAPIKey", "CreateApplication", "CreateGroup", "CreatePolicy", "CreateSSHKey",
            "DeleteAPIKey", "DeleteApplication", "DeletePolicy", "DeleteSSHKey", "RemoveGroupMember", "SetRules",
            "UpdateAPIKey", "UpdateApplication", "UpdateGroup", "UpdatePolicy", "UpdateUserPassword"]},
    ]},
    {"title": "Instances", "name": "instance", "services": [
        {"name": "scaleway.instance.v1.Api", "methods": [
            "AttachServerVolume", "CreateImage", "CreateSecurityGroup", "CreateServer", "CreateSnapshot",
            "CreateVolume", "DeleteServer", "DeleteSnapshot", "DeleteVolume", "ServerAction",
            "SetSecurityGroupRules", "UpdateServer", "UpdateVolume"]},
    ]},
    {"title": "IPAM", "name": "ipam", "services": [
        {"name": "scaleway.ipam.v1.Api", "methods": ["AttachIP", "BookIP", "DetachIP", "ReleaseIP", "UpdateIP"]},
    ]},
    {"title": "Key Manager", "name": "key-manager", "services": [
        {"name": "scaleway.key_manager.v1alpha1.Api", "methods": [
            "CreateKey", "DeleteKey", "DisableKey", "EnableKey", "ImportKeyMaterial", "ProtectKey", "RotateKey",
            "UpdateKey"]},
    ]},
    {"title": "Kubernetes", "name": "kubernetes", "services": [
        {"name": "scaleway.k8s.v1.Api", "methods": [
            "CreateCluster", "CreatePool", "DeleteCluster", "DeletePool", "RebootNode", "ReplaceNode",
            "ResetClusterAdminToken", "SetClusterACLRules", "UpdateCluster", "UpdatePool", "UpgradeCluster",
            "UpgradePool"]},
    ]},
    {"title": "Load Balancer", "name": "load-balancer", "services": [
        {"name": "scaleway.lb.v1.ZonedApi", "methods": [
            "AddBackendServers", "CreateBackend", "CreateCertificate", "CreateFrontend", "CreateLb", "CreateRoute",
            "DeleteBackend", "DeleteLb", "MigrateLb", "SetBackendServers", "UpdateBackend", "UpdateFrontend",
            "UpdateHealthCheck", "UpdateLb"]},
    ]},
    {"title": "Managed Database for PostgreSQL and MySQL", "name": "rdb", "services": [
        {"name": "scaleway.rdb.v1.Api", "methods": [
            "CreateDatabaseBackup", "CreateEndpoint", "CreateInstance", "CreateSnapshot", "CreateUser",
            "DeleteInstance", "RestartInstance", "SetPrivilege", "UpdateInstance", "UpdateUser",
            "UpgradeInstance"]},
    ]},
    {"title": "Public Gateways", "name": "vpc-gw", "services": [
        {"name": "scaleway.vpc_gw.v2.Api", "methods": [
            "CreateGateway", "CreateGatewayNetwork", "CreatePatRule", "DeleteGateway", "SetPatRules",
            "UpdateGateway", "UpgradeGateway"]},
    ]},
    {"title": "Secret Manager", "name": "secret-manager", "services": [
        {"name": "scaleway.secret_manager.v1beta1.Api", "methods": [
            "AddSecretOwner", "CreateSecret", "CreateSecretVersion", "DeleteSecret", "DeleteSecretVersion",
            "DisableSecretVersion", "EnableSecretVersion", "ProtectSecret", "UpdateSecret"]},
    ]},
    {"title": "Serverless Containers", "name": "serverless-containers", "services": [
        {"name": "scaleway.containers.v1beta1.Api", "methods": [
            "CreateContainer", "CreateDomain", "CreateNamespace", "CreateTrigger", "DeleteContainer",
            "DeployContainer", "UpdateContainer"]},
    ]},
    {"title": "VPC", "name": "vpc", "services": [
        {"name": "scaleway.vpc.v2.Api", "methods": [
            "AddSubnets", "CreatePrivateNetwork", "CreateRoute", "CreateVPC", "DeletePrivateNetwork",
            "DeleteRoute", "SetAcl", "UpdatePrivateNetwork"]},
    ]},
]  # fmt: skip

# Where a product lives: "global" (shown in fr-par), a region, or a zone of a region.
PLACEMENT = {
    "account": "global", "iam": "global", "edge-services": "global",
    "apple-silicon": "zone", "baremetal": "zone", "instance": "zone", "load-balancer": "zone", "vpc-gw": "zone",
}  # fmt: skip
# Products whose events carry no project (organization-level resources).
NO_PROJECT = {"account", "iam"}


@dataclass(frozen=True)
class ResourceKind:
    """A resource type a product's methods act on; `nouns` match the method names that touch it."""

    type: str
    nouns: tuple[str, ...]
    names: tuple[str, ...]
    info: str = ""  # the `<x>_info` key, if the type has one


RESOURCE_KINDS: dict[str, list[ResourceKind]] = {
    "account": [
        ResourceKind("account_project", ("Project",), ("web-shop", "data-lake", "internal-tools", "sandbox"),
                     "account_project_info"),
        ResourceKind("account_user", ("User", "MFA", "Password"), ("owner@acme.example",), "account_user_info"),
    ],
    "apple-silicon": [ResourceKind("apple_silicon_server", ("Server",), ("mac-ci-1", "mac-ci-2", "mac-build"),
                                   "apple_silicon_server_info")],
    "audit-trail": [
        ResourceKind("audit_trail_export_job", ("Export",), ("daily-export-s3", "siem-archive"),
                     "audit_trail_export_job_info"),
        ResourceKind("audit_trail_alert_rule", ("Alert",), ("ApiKeyCreated", "HttpForbiddenErrorRateHigh"),
                     "audit_trail_alert_rule_info"),
    ],
    "edge-services": [
        ResourceKind("edge_services_pipeline", ("Pipeline", "Purge", "Waf"), ("shop-cdn", "docs-cdn"),
                     "edge_services_pipeline_info"),
        ResourceKind("edge_services_cache_stage", ("Cache",), ("cache-stage",), "edge_services_cache_stage_info"),
        ResourceKind("edge_services_tls_stage", ("TLS",), ("tls-stage",), "edge_services_tls_stage_info"),
    ],
    "baremetal": [ResourceKind("baremetal_server", ("Server", "BMC"), ("em-db-1", "em-db-2", "em-gpu-1"),
                               "baremetal_server_info")],
    "iam": [],  # real users, applications, groups, policies and keys: see _iam_resource
    "instance": [
        ResourceKind("instance_server", ("Server",), ("web-1", "web-2", "web-3", "worker-1", "bastion"),
                     "instance_server_info"),
        ResourceKind("instance_volume", ("Volume",), ("web-1-data", "worker-1-scratch")),
        ResourceKind("instance_snapshot", ("Snapshot",), ("web-1-nightly", "bastion-weekly")),
        ResourceKind("instance_security_group", ("SecurityGroup",), ("web-sg", "bastion-sg")),
        ResourceKind("instance_image", ("Image",), ("web-golden-2026-11", "worker-base")),
    ],
    "ipam": [ResourceKind("ipam_ip", ("IP",), ("172.16.4.10", "172.16.4.11", "172.16.8.2"), "ipam_ip_info")],
    "key-manager": [ResourceKind("key_manager_key", ("Key",), ("db-encryption", "backup-kek", "signing-key"),
                                 "key_manager_key_info")],
    "kubernetes": [
        ResourceKind("kube_cluster", ("Cluster", "ACL"), ("prod-k8s", "staging-k8s"), "kube_cluster_info"),
        ResourceKind("kube_pool", ("Pool",), ("default", "gpu-pool", "spot")),
        ResourceKind("kube_node", ("Node",), ("scw-prod-k8s-default-7f3a", "scw-prod-k8s-default-91bc")),
    ],
    "load-balancer": [
        ResourceKind("load_balancer_lb", ("Lb", "HealthCheck"), ("shop-lb", "api-lb"), "load_balancer_lb_info"),
        ResourceKind("load_balancer_backend", ("Backend",), ("shop-backend", "api-backend")),
        ResourceKind("load_balancer_frontend", ("Frontend", "Route"), ("https-443", "http-80")),
        ResourceKind("load_balancer_certificate", ("Certificate",), ("shop-acme-example",)),
    ],
    "rdb": [
        ResourceKind("rdb_instance", ("Instance", "Database", "User", "Privilege"), ("shop-pg", "analytics-pg")),
        ResourceKind("rdb_instance_backup", ("Backup",), ("shop-pg-daily", "analytics-pg-weekly")),
        ResourceKind("rdb_instance_snapshot", ("Snapshot",), ("shop-pg-before-upgrade",)),
        ResourceKind("rdb_instance_endpoint", ("Endpoint",), ("shop-pg-private",)),
    ],
    "vpc-gw": [ResourceKind("vpc_gw_gateway", ("Gateway", "Pat"), ("office-gw", "shop-gw"),
                            "vpc_gw_gateway_info")],
    "secret-manager": [ResourceKind("secret_manager_secret", ("Secret",), (
        "db-password", "stripe-api-key", "smtp-credentials", "jwt-signing-key"), "secret_manager_secret_info")],
    "serverless-containers": [
        ResourceKind("serverless_containers_container", ("Container", "Domain", "Trigger"),
                     ("shop-api", "image-resizer"), "serverless_containers_container_info"),
        ResourceKind("serverless_containers_namespace", ("Namespace",), ("shop-ns",),
                     "serverless_containers_namespace_info"),
    ],
    "vpc": [
        ResourceKind("vpc_private_network", ("PrivateNetwork", "Subnets"), ("pn-shop", "pn-data"),
                     "vpc_private_network_info"),
        ResourceKind("vpc_vpc", ("VPC", "Acl"), ("main-vpc",)),
        ResourceKind("vpc_route", ("Route",), ("default-route",), "vpc_route_info"),
    ],
}  # fmt: skip

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
    organization, _ = Organization.objects.get_or_create(name=name, owner=owner)
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


def _policy(
    organization: Organization,
    name: str,
    permission_sets: list[str],
    *,
    projects: Sequence[Project] = (),
    **principal: Any,
) -> Policy:
    policy, created = Policy.objects.get_or_create(organization=organization, name=name, defaults=principal)
    if created:
        Rule.objects.create(
            policy=policy,
            permission_set_names=permission_sets,
            scope_type=Rule.ScopeType.PROJECTS if projects else Rule.ScopeType.ORGANIZATION,
            project_ids=[str(p.pk) for p in projects],
        )
    return policy


@transaction.atomic
def demo_world_ensure(*, now: datetime | None = None) -> DemoWorld:
    """Get or create the demo's organizations, people, projects and IAM objects. Idempotent.

    A few dozen queries. The siem-exporter application's API key is created on the first run
    only; its secret is returned then (in `api_key`) and never again.
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

    applications = {}
    for name, description in {
        "terraform-ci": "Terraform pipelines in GitLab CI",
        "backup-bot": "Nightly snapshots and database backups",
        "siem-exporter": "Ships the audit trail to the SOC's SIEM",
    }.items():
        applications[name], _ = Application.objects.get_or_create(
            organization=acme, name=name, defaults={"description": description}
        )

    developers, _ = Group.objects.get_or_create(
        organization=acme, name="Developers", defaults={"description": "Product engineers"}
    )
    developers.users.add(users["lucas.bernard@acme.example"], users["chloe.moreau@acme.example"])
    automation, _ = Group.objects.get_or_create(
        organization=acme, name="Automation", defaults={"description": "Machine principals"}
    )
    automation.applications.add(applications["terraform-ci"], applications["backup-bot"])

    policies = [
        _policy(acme, "Audit Trail read-only", ["AuditTrailReadOnly"], user=users["auditor@acme.example"]),
        _policy(acme, "IAM management", ["IAMManager"], user=users["iam-manager@acme.example"]),
        _policy(
            acme,
            "Developers full access",
            ["AllProductsFullAccess"],
            projects=[by_name["web-shop"], by_name["data-lake"]],
            group=developers,
        ),
        _policy(
            acme,
            "Terraform CI",
            ["AllProductsFullAccess"],
            projects=acme_projects,
            application=applications["terraform-ci"],
        ),
        _policy(
            acme,
            "Backups",
            ["InstancesFullAccess"],
            projects=[by_name["web-shop"]],
            application=applications["backup-bot"],
        ),
        _policy(acme, "SIEM export", ["AuditTrailReadOnly"], application=applications["siem-exporter"]),
    ]

    api_key = None
    exporter = applications["siem-exporter"]
    if not exporter.api_keys.exists():
        owner = users["owner@acme.example"]
        key, secret = api_key_create(
            # As if from the console: the owner's office IP and browser.
            actor=Actor(
                PrincipalType.USER, owner.pk, owner.email, "81.250.12.34", CONSOLE_UA, str(uuid.uuid4())
            ),
            organization=acme,
            application=exporter,
            description="SIEM export (demo)",
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
    everything = {p["name"]: 1.0 for p in PRODUCTS}
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
        self.products = {p["name"]: p for p in PRODUCTS}
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
            name: _Pick.of(
                [((service["name"], method), _method_weight(method)) for service in product["services"]
                 for method in service["methods"]]
            )
            for name, product in self.products.items()
        }  # fmt: skip

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def principal(self, at: datetime) -> DemoPrincipal:
        for _ in range(20):
            principal = self.pick_principal(self.rng)
            if principal.active_at(at):
                return principal
        return next(p for p in self.pick_principal.items if p.active_at(at))

    def pool(self, kind: ResourceKind, project: Project | None) -> list[dict[str, Any]]:
        key = (kind.type, str(project.pk) if project else "")
        if key not in self.pools:
            born = timezone.now() - timedelta(days=self.rng.randint(40, 400))
            self.pools[key] = [
                {
                    "id": self.uuid4(),
                    "type": kind.type,
                    "name": name,
                    "created_at": _iso(born),
                    "updated_at": _iso(born),
                    "deleted_at": None,
                    **({kind.info: self._info(kind, name, project)} if kind.info else {}),
                }
                for name in kind.names
            ]
        return self.pools[key]

    def _info(self, kind: ResourceKind, name: str, project: Project | None) -> dict[str, Any]:
        match kind.info:
            case "secret_manager_secret_info":
                return {"path": "/", "key_id": None}
            case "instance_server_info" | "load_balancer_lb_info" | "edge_services_pipeline_info":
                return {"name": name}
            case "ipam_ip_info":
                return {"address": name if name[0].isdigit() else "172.16.4.10"}
            case "account_project_info":
                return {"description": ACME_PROJECTS.get(name, "")}
            case "account_user_info":
                return {"email": name, "phone_number": None}
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

    def _iam_resource(self, method: str) -> dict[str, Any]:
        rng, world = self.rng, self.world
        if "APIKey" in method:
            key = "SCW" + "".join(rng.choice("ABCDEFGHJKMNPQRSTVWXYZ0123456789") for _ in range(17))
            return {"id": key, "type": "iam_api_key", "name": rng.choice(["ci deploy key", "laptop", None])}
        if "Application" in method:
            application = rng.choice(list(world.applications.values()))
            return {"id": str(application.pk), "type": "iam_application", "name": application.name}
        if "Group" in method:
            group = rng.choice(world.groups)
            return {"id": str(group.pk), "type": "iam_group", "name": group.name}
        if "Policy" in method or method == "SetRules":
            policy = rng.choice(world.policies)
            return {"id": str(policy.pk), "type": "iam_policy", "name": policy.name}
        if "SSHKey" in method:
            return {
                "id": self.uuid4(),
                "type": "iam_ssh_key",
                "name": rng.choice(["laptop-ed25519", "ci-runner"]),
            }
        user = world.users[rng.choice(["lucas.bernard@acme.example", "chloe.moreau@acme.example"])]
        return {"id": str(user.pk), "type": "iam_user", "name": user.email}

    def resource(self, product: str, method: str, project: Project | None) -> dict[str, Any]:
        if product == "iam":
            return self._iam_resource(method)
        kinds = RESOURCE_KINDS[product]
        kind = max(kinds, key=lambda k: max((len(n) for n in k.nouns if n in method), default=0))
        return self.rng.choice(self.pool(kind, project))

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

    def event(self, at: datetime, *, forbidden: bool, principal: DemoPrincipal | None = None) -> Event:
        rng = self.rng
        principal = principal or self.principal(at)
        product = self.pick_product[id(principal)](rng)
        if principal.actor.principal_type == PrincipalType.SYSTEM:
            service = self.products[product]["services"][0]["name"]
            method = rng.choice(SYSTEM_METHODS.get(product, ("ReplaceNode",)))
        else:
            service, method = self.methods[product](rng)
        choices = [p for p in self.projects if not principal.projects or p.name in principal.projects]
        project = rng.choice(choices or self.projects)
        placement = PLACEMENT.get(product, "region")
        region = self.region_of_project.get(project.name, self.region_of_project["default"])(rng)
        if placement == "global":
            locality = "global"
        elif placement == "zone":
            locality = f"{region}-{rng.choice('112' if region == 'fr-par' else '123')}"
        else:
            locality = region
        if product in NO_PROJECT:
            project = None
        resource = self.resource(product, method, project)
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
            product_name=product,
            service_name=service,
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

    # Moments with a story: someone without rights hammering the console 25 minutes ago (a burst of
    # 403s, enough for HttpForbiddenErrorRateHigh: more than 20 in 5 minutes), and the owner
    # removing the member who left.
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
            yield acme_refused.event(at, forbidden=True, principal=member)
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
        service_name="scaleway.iam.v1alpha1.Api",
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


def _acme_has_events() -> bool:
    acme = Organization.objects.filter(name=ACME, owner__email=LOGINS[0].email).first()
    return acme is not None and Event.objects.filter(organization_id=acme.pk).exists()


def demo_seed(
    *,
    events: int = DEFAULT_EVENTS,
    days: int = DEFAULT_DAYS,
    force: bool = False,
    now: datetime | None = None,
    seed: int | None = None,
) -> DemoResult:
    """Ensure the demo world, then append `events` events over the last `days` days.

    Events are skipped when Acme already has some, unless `force`. On PostgreSQL the monthly
    partitions reaching back `days` are made first, so that old events do not land in the
    default partition. Cost: one `record_many` (one transaction, batched INSERTs).
    """
    if events < 0 or days < 1:
        raise ValueError("events must be 0 or more and days 1 or more.")
    now = now or timezone.now()
    # Asked before the world exists: creating it records an event of its own (CreateAPIKey).
    already_seeded = _acme_has_events()
    world = demo_world_ensure(now=now)
    result = DemoResult(world=world)
    if events == 0 or (already_seeded and not force):
        result.skipped = events > 0
        return result
    started = time.perf_counter()
    ensure_partitions(months_back=days // 28 + 1)
    rng = random.Random(seed)
    result.events = record_many(demo_events(world, count=events, days=days, now=now, rng=rng))
    result.seconds = time.perf_counter() - started
    return result
