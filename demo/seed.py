"""The demo: two organizations and a month of realistic Audit Trail events (`manage.py seed_demo`).

"Acme" has three projects, an owner, an auditor (AuditTrailReadOnly), an IAM manager, two
developers, a member without rights, a member who left, IAM applications with policies and an
API key. "Globex" is small and shows that organizations never see each other's events.

Events spread over fr-par, nl-ams and global (shown in fr-par), about 3% are 403s, some come
from the member who left (shown as "Unknown") and some from "Scaleway" itself. The last hour is
busy so that the Events page, whose default window is the last hour, is never empty.

The demo loads only into an empty database (no user, no organization): `make run` calls it at
every start, and a database someone has used is theirs, deletions included. On any other
database it writes nothing, unless forced to append events to a demo that is still whole.
"""

from __future__ import annotations

import heapq
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from audit.models import AuthenticationEvent, Event, PrincipalType
from audit.partitions import ensure_partitions
from audit.services import Actor, build_event, record_many
from core.ids import uuid7
from core.time import iso
from demo.events import (
    CLI_UA,
    CONSOLE_UA,
    DEMO_PRODUCTS,
    FIREFOX_UA,
    IAM,
    SDK_GO_UA,
    SDK_PYTHON_UA,
    SYSTEM_METHODS,
    TERRAFORM_UA,
    TIME_ZONE,
    Cast,
    DemoPrincipal,
    EventGenerator,
    moments,
)
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


class DemoError(ValueError):
    """The demo cannot be loaded as asked; the message says why and what to do."""


@dataclass
class DemoResult:
    world: DemoWorld | None  # None when the database held data and nothing was loaded
    events: int = 0
    sign_ins: int = 0
    loaded: bool = False  # the database was empty and the demo's world was made on this run
    skipped: bool = False  # the database held data: nothing was written
    held: dict[str, int] = field(default_factory=dict)  # what it held then, e.g. {"users": 9}
    demo_there: bool = False  # when skipped: whether the demo's Acme is among it
    seconds: float = 0.0
    logins: Sequence[DemoLogin] = field(default=LOGINS)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


# --- the organizations --------------------------------------------------------------------------


def _user(email: str, password_hash: str, **extra: Any) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        first, last = PEOPLE[email]
        user = User(email=email, username=email, first_name=first, last_name=last, password=password_hash)
        for name, value in extra.items():
            setattr(user, name, value)
        user.save()
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
    # The demo password hashed once, by the configured hasher at full strength, for every demo
    # user: hashing it per user cost ~0.5 s each. They share a salt, which tells only that they
    # share a password, and the README prints that password.
    password = make_password(DEMO_PASSWORD)
    emails = list(PEOPLE)
    users = {email: _user(email, password) for email in emails if email != "admin@audit-trail.example"}
    users["admin@audit-trail.example"] = _user(
        "admin@audit-trail.example", password, is_staff=True, is_superuser=True
    )

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
    infra: dict[str, float] = {
        "instance": 5,
        "kubernetes": 4,
        "load-balancer": 3,
        "vpc": 2,
        "rdb": 2,
        "vpc-gw": 1,
        "ipam": 1,
    }

    def person(
        email: str,
        weight: float,
        products: dict[str, float],
        ips: tuple[str, ...],
        uas: tuple[str, ...],
        **kw: Any,
    ) -> DemoPrincipal:
        return DemoPrincipal(Actor.of(u[email]), weight, products, ips, uas, **kw)

    def app(
        name: str,
        weight: float,
        products: dict[str, float],
        ips: tuple[str, ...],
        uas: tuple[str, ...],
        **kw: Any,
    ) -> DemoPrincipal:
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


def _acme_iam(world: DemoWorld) -> dict[str, list[tuple[str, str]]]:
    """Acme's lasting IAM objects, which its IAM events (other than Create and Delete) are about."""
    policies = [(str(policy.pk), policy.name) for policy in world.policies]
    return {
        "iam_application": [(str(a.pk), a.name) for a in world.applications.values()],
        "iam_group": [(str(group.pk), group.name) for group in world.groups],
        "iam_policy": policies,
        "iam_rule": policies,  # SetRules rewrites a policy's rules
        "iam_user": [
            (str(world.users[email].pk), email)
            for email in ("lucas.bernard@acme.example", "chloe.moreau@acme.example")
        ],
    }


def demo_events(
    world: DemoWorld, *, count: int, days: int, now: datetime, rng: random.Random
) -> Iterator[Event]:
    """`count` unsaved events for Acme and Globex, oldest first, ready for `record_many`."""
    ok, refused, globex_principals = _principals(world)
    pools: dict[tuple[str, str], list[dict[str, Any]]] = {}
    acme_projects, iam = world.projects[str(world.acme.pk)], _acme_iam(world)
    acme_ok = EventGenerator(Cast(world.acme, acme_projects, ok, iam), rng, pools)
    acme_refused = EventGenerator(Cast(world.acme, acme_projects, refused, iam), rng, pools)
    globex_cast = Cast(world.globex, world.projects[str(world.globex.pk)], globex_principals)
    globex = EventGenerator(globex_cast, rng, {})
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

    spread = count - len(special)
    last_hour = min(spread, max(round(spread * LAST_HOUR_SHARE), 40))
    globex_count = round(spread * GLOBEX_SHARE) if spread >= 50 else 0
    globex_at = set(rng.sample(range(spread), globex_count))
    instants = moments(rng, spread, end=now, days=days, last_hour=last_hour)
    timeline: Iterator[tuple[datetime, int | str]] = heapq.merge(
        ((at, i) for i, at in enumerate(instants)), sorted(special), key=lambda pair: pair[0]
    )
    for at, what in timeline:
        if what == "burst":
            yield acme_refused.event(
                at,
                status=403,
                principal=member,
                product_name="instance",
                method="CreateServer",
                region="fr-par",
            )
        elif what == "removal":
            yield _removal(world, ok)
        elif what in globex_at:
            yield globex.event(at, status=403 if rng.random() < FORBIDDEN_RATE else 200)
        elif rng.random() < FORBIDDEN_RATE:
            yield acme_refused.event(at, status=403)
        else:
            yield acme_ok.event(at)


def _removal(world: DemoWorld, principals: list[DemoPrincipal]) -> Event:
    """The owner removes the member who left (Scaleway IAM's DeleteUser)."""
    owner = next(p for p in principals if p.actor.principal_id == world.acme.owner_id)
    former = world.users["former@acme.example"]
    service = IAM.service_of("DeleteUser")
    assert service is not None  # IAM logs DeleteUser
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
        service_name=service.name,
        method_name="DeleteUser",
        locality="global",
        resources=[
            {
                "id": str(former.pk),
                "type": "iam_user",
                "name": former.email,
                "created_at": iso(former.date_joined, timespec="auto"),
                "updated_at": iso(world.removed_at, timespec="auto"),
                "deleted_at": iso(world.removed_at, timespec="auto"),
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

    today = now.astimezone(TIME_ZONE).date()
    for back in range(days, -1, -1):
        day = today - timedelta(days=back)
        working = day.weekday() < 5
        # 08:00 in Paris: 07:00 UTC in winter, 06:00 in summer.
        morning = datetime.combine(day, clock(8), tzinfo=TIME_ZONE).astimezone(UTC)
        for email in SIGN_IN_HABITS:
            if rng.random() > (0.8 if working else 0.08):
                continue
            # 08:00-10:30 in Paris.
            at = morning + timedelta(seconds=rng.random() * 9000)
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

    night = datetime.combine(today - timedelta(days=3), clock(2, 14), tzinfo=TIME_ZONE).astimezone(UTC)
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

APPLICATIONS = ("terraform-ci", "backup-bot", "siem-exporter")


def database_holdings() -> dict[str, int]:
    """What the database holds that someone may have made: users and organizations, counted
    (two COUNTs). Empty means the demo may load: nothing can be undone or attributed wrongly."""
    held = {"users": User.objects.count(), "organizations": Organization.objects.count()}
    return {what: count for what, count in held.items() if count}


def demo_world_find(*, now: datetime | None = None) -> DemoWorld:
    """The demo's world as the database holds it now, read only: what `--force` appends events to.

    Raises DemoError, naming what is gone, when the demo's organizations, the people its events
    are by, or its applications are no longer there (deleted in the console, say). A handful of
    queries.
    """
    now = now or timezone.now()
    acme = Organization.objects.filter(name=ACME, owner__email=LOGINS[0].email).first()
    globex = Organization.objects.filter(name=GLOBEX, owner__email="owner@globex.example").first()
    users = {user.email: user for user in User.objects.filter(email__in=list(PEOPLE))}
    applications = {
        app.name: app for app in Application.objects.filter(organization=acme, name__in=APPLICATIONS)
    }
    missing = [name for name, found in ((ACME, acme), (GLOBEX, globex)) if found is None]
    missing += [f"user {email}" for email in PEOPLE if email not in users]
    missing += [f"application {name}" for name in APPLICATIONS if name not in applications]
    projects = {str(org.pk): list(org.projects.order_by("name")) for org in (acme, globex) if org is not None}
    missing += [f"every project of {org.name}" for org in (acme, globex) if org and not projects[str(org.pk)]]
    if missing or acme is None or globex is None:
        raise DemoError(
            f"The demo is not whole in this database ({', '.join(missing)} missing), so no events "
            "were added. To load the demo afresh, point DATABASE_URL at an empty database (or "
            "delete db.sqlite3) and run `manage.py seed_demo` again."
        )
    former = Membership.objects.filter(organization=acme, user=users["former@acme.example"]).first()
    return DemoWorld(
        acme=acme,
        globex=globex,
        projects=projects,
        users=users,
        applications=applications,
        groups=list(Group.objects.filter(organization=acme, name__in=["Developers", "Automation"])),
        policies=list(Policy.objects.filter(organization=acme)),
        removed_at=(former.removed_at if former else None) or now,
    )


def demo_seed(
    *,
    events: int = DEFAULT_EVENTS,
    days: int = DEFAULT_DAYS,
    force: bool = False,
    now: datetime | None = None,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Load the demo into an empty database: its world, `events` events over the last `days`
    days and the console sign-ins of those days.

    A database that holds a user or an organization is left as it is (`skipped`, with what it
    held): `make run` calls this at every start, and whatever the user changed since, deletions
    included, must stay changed, with nothing recorded in anyone's name. With `force`, events
    are appended to the demo as it stands (`demo_world_find`, which raises DemoError when the
    demo is not whole; its world is never rebuilt), or, on a database without the demo's
    organizations, the demo is loaded beside what is there. `progress` hears of each stage.

    On PostgreSQL the monthly partitions reaching back `days` are made first, so that old events
    do not land in the default partition. Cost: the world through the real services (~100
    queries), one `record_many` (one transaction, one COPY on PostgreSQL) and one batched insert
    of sign-ins.
    """
    if events < 0 or days < 1:
        raise DemoError("events must be 0 or more and days 1 or more.")
    now = now or timezone.now()
    say = progress or (lambda line: None)
    held = database_holdings()
    there = (
        bool(held)
        and Organization.objects.filter(name__in=[ACME, GLOBEX], owner__email__in=list(PEOPLE)).exists()
    )
    if held and not force:
        return DemoResult(world=None, skipped=True, held=held, demo_there=there)
    started = time.perf_counter()
    if there:
        world = demo_world_find(now=now)
    else:
        say(
            f"{'Forced' if held else 'Empty database'}: loading the demo ({events:,} events over {days} days)."
        )
        world = demo_world_ensure(now=now)
        say(
            f"Made the demo's organizations, people and IAM objects: {len(world.users)} users, "
            f"{sum(len(p) for p in world.projects.values())} projects, {len(world.applications)} "
            f"applications, {len(world.policies)} policies ({time.perf_counter() - started:.1f} s)."
        )
    result = DemoResult(world=world, loaded=not there)
    if events == 0:
        return result
    started = time.perf_counter()
    ensure_partitions(months_back=days // 28 + 1)
    rng = random.Random(seed)
    with transaction.atomic():
        result.events = len(record_many(demo_events(world, count=events, days=days, now=now, rng=rng)))
        if result.loaded:
            result.sign_ins = demo_sign_ins_record(demo_sign_ins(world, days=days, now=now, rng=rng))
    result.seconds = time.perf_counter() - started
    return result
