"""The one event generator: who does what, on which resources, when. The demo (`demo.seed`) and
the benchmarks (`demo.bench`) both draw their events from it.

A generator builds the events of one organization from its cast: the principals and their
habits (which products they use, from which IPs and with which clients), its projects, and the
lasting IAM objects that IAM events are about. Resources are drawn from stable pools so that the
same instance or secret recurs across days. `moments` spreads the instants over the days, busier
on weekday working hours in the organization's time zone (Paris, summer time included).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from audit.catalogue import PRODUCTS, LocalityKind, Product
from audit.models import Event, PrincipalType
from audit.services import Actor, build_event
from core.time import iso
from iam.models import Organization, Project

# Where the demo's organizations work: their working hours, hence the trail's busy hours.
TIME_ZONE = ZoneInfo("Europe/Paris")
# Weight of each local hour of a weekday (weekends weigh WEEKEND of it): busy working hours, quiet nights.
HOUR_WEIGHTS = [0.12] * 7 + [0.5, 0.9] + [1.0] * 10 + [0.6, 0.4, 0.3, 0.2, 0.15]
WEEKEND = 0.35


# --- what they do: the catalogue's products, and the resources the demo's methods act on ----------
# Product, service and method names come from `audit.catalogue` (one source of truth with the
# Events page filters and ListProducts). The demo adds what the catalogue cannot know: which
# methods a healthy organization calls, and the names of the resources they touch.

# Methods the demo never calls at random: closing the organization, the sign-in dance (console
# sign-ins are AuthenticationEvents: `demo.seed.demo_sign_ins`), SAML set-up and user lock-outs,
# and removing a user (the one removal is a story of its own: see `demo.seed._removal`).
IAM_METHODS = frozenset({
    "AddGroupMember", "CreateAPIKey", "CreateApplication", "CreateGroup", "CreatePolicy", "CreateSSHKey",
    "CreateUser", "DeleteAPIKey", "DeleteApplication", "DeleteGroup", "DeletePolicy", "DeleteSSHKey",
    "RemoveGroupMember", "SetRules", "UpdateAPIKey", "UpdateApplication", "UpdateGroup", "UpdatePolicy",
    "UpdateSSHKey", "UpdateUser", "UpdateUserPassword",
})  # fmt: skip
EXCLUDED_METHODS = {"account": frozenset({"CloseOrganization"})}
# Products whose resources are the organization's own IAM and account objects (see `EventGenerator`),
# and whose events carry no project.
ORGANIZATION_PRODUCTS = ("account", "iam")


@dataclass(frozen=True)
class ResourcePool:
    """The names of the resources of one type that an organization has; `info` is the type's
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
class Cast:
    """One organization as the generator sees it: its projects, who acts in it, and its lasting
    IAM objects (resource type -> (id, name) pairs) that IAM events other than Create and Delete
    are about; any other IAM resource type is about one of the "iam_user" ones."""

    organization: Organization
    projects: list[Project]
    principals: list[DemoPrincipal]
    iam: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class _Pick[T]:
    """A weighted choice made once and sampled many times (random.choices recomputes the sums)."""

    items: list[T]
    cum: list[float]

    @classmethod
    def of(cls, weighted: dict[T, float] | list[tuple[T, float]]) -> _Pick[T]:
        pairs = list(weighted.items()) if isinstance(weighted, dict) else list(weighted)
        total, cum = 0.0, []
        for _, w in pairs:
            total += w
            cum.append(total)
        return cls([item for item, _ in pairs], cum)

    def __call__(self, rng: random.Random) -> T:
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


class EventGenerator:
    """Builds the events of one organization's cast. Resources are drawn from stable pools (which
    generators may share) so that the same instance or secret recurs across days and "filter by
    resource ID" tells its story."""

    def __init__(
        self, cast: Cast, rng: random.Random, pools: dict[tuple[str, str], list[dict[str, Any]]]
    ) -> None:
        principals = cast.principals
        self.cast, self.organization, self.rng = cast, cast.organization, rng
        self.products = {p.name: p for p in DEMO_PRODUCTS}
        self.projects = cast.projects
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
                    "created_at": iso(born, timespec="auto"),
                    "updated_at": iso(born, timespec="auto"),
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
        rng = self.rng
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
        if not self.cast.iam.get(resource_type):
            resource_type = "iam_user"
        pk, name = rng.choice(self.cast.iam[resource_type])
        return {"id": pk, "type": resource_type, "name": name}

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
        status: int = 200,
        principal: DemoPrincipal | None = None,
        product_name: str | None = None,
        method: str | None = None,
        region: str | None = None,
    ) -> Event:
        """One event at `at` answered `status`; the principal, product, method and region are drawn
        unless given."""
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
            status_code=status,
            project_id=project.pk if project else None,
            # A refused call touched nothing: Scaleway logs it without resources.
            resources=[] if status == 403 else [resource],
            request_body=self.body(method, resource, project),
            recorded_at=at,
        )


def busyness(at: datetime) -> float:
    """How busy the trail is at `at`, relative to a weekday's working hour, in TIME_ZONE's local
    time (summer time included)."""
    local = at.astimezone(TIME_ZONE)
    return HOUR_WEIGHTS[local.hour] * (1.0 if local.weekday() < 5 else WEEKEND)


def moments(
    rng: random.Random, count: int, *, end: datetime, days: int, last_hour: int = 0
) -> Iterator[datetime]:
    """`count` instants over the `days` days before `end`, in time order, hour by hour, busier on
    weekday working hours; the last `last_hour` of them in the hour before `end` (a busy last
    hour: the console's default window). Streams, so that a million instants take no memory."""
    last_hour = min(last_hour, count)
    spread = count - last_hour
    start = end - timedelta(days=days)
    span = days * 24 - (1 if last_hour else 0)
    hours = [start + timedelta(hours=h) for h in range(span)]
    weights = [busyness(hour) for hour in hours]
    total = sum(weights)
    cumulative = 0.0
    produced = 0
    for index, (hour, weight) in enumerate(zip(hours, weights, strict=True)):
        cumulative += weight
        # Round the running total, not each hour, so exactly `spread` instants come out (the
        # float sum of the shares may fall a hair short of `spread`).
        target = spread if index == len(hours) - 1 else round(spread * cumulative / total)
        n, produced = target - produced, target
        yield from sorted(hour + timedelta(seconds=rng.random() * 3600) for _ in range(n))
    yield from sorted(end - timedelta(seconds=rng.random() * 3600) for _ in range(last_hour))
