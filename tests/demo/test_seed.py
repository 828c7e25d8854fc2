"""`manage.py seed_demo`: a lively, realistic and idempotent demo."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, time, timedelta
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from alerts.models import Alert
from audit import catalogue
from audit.models import AuthenticationEvent, Event
from audit.services import Actor
from demo.events import DEMO_PRODUCTS, ORGANIZATION_PRODUCTS, RESOURCE_POOLS, demo_methods
from demo.seed import DEMO_PASSWORD, LOGINS, demo_events, demo_seed, demo_sign_ins, demo_world_ensure
from iam.logs import IamLog, iam_log_events
from iam.models import APIKey, Application, Group, Membership, Organization, Policy, Project, Rule, User
from iam.permissions import has_permission
from iam.services import DEFAULT_GROUPS, application_delete, group_delete, member_remove, policy_delete

PARIS = ZoneInfo("Europe/Paris")


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    models = (
        User,
        Organization,
        Project,
        Membership,
        Application,
        Group,
        Policy,
        Rule,
        APIKey,
        Event,
        AuthenticationEvent,
    )
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def seeded(db):
    """2,000 events (enough for the 403 burst) over 30 days, reproducibly."""
    return demo_seed(events=2000, days=30, seed=7)


@pytest.fixture
def acme_events(seeded):
    return Event.objects.filter(organization_id=seeded.world.acme.pk)


@pytest.mark.django_db
def test_seed_demo_prints_how_long_it_took_and_the_demo_logins():
    out = _seed("--events", "300", "--days", "7")
    assert re.search(r"Recorded 300 events over 7 days in \d+\.\d s \([\d,]+ events/s\)\.", out)
    for login in LOGINS:
        assert re.search(rf"{re.escape(login.email)}\s+{DEMO_PASSWORD}", out)
    assert re.search(r"access key SCW[A-Z0-9]{17}\n\s+secret key [0-9a-f-]{36}", out)


@pytest.mark.django_db
def test_running_seed_demo_twice_duplicates_nothing():
    _seed("--events", "200")
    before = _counts()
    out = _seed("--events", "200")
    assert _counts() == before
    assert "Demo already loaded" in out
    assert "secret key" not in out  # shown once, on the run that created it
    assert "owner@acme.example" in out  # the logins are printed every time


@pytest.mark.django_db
def test_force_adds_events_but_no_people():
    _seed("--events", "200")
    before = _counts()
    _seed("--events", "100", "--force")
    after = _counts()
    assert after.pop("Event") == before.pop("Event") + 100
    assert after == before


@pytest.mark.django_db
def test_seed_demo_after_console_changes_writes_nothing_and_undoes_nothing():
    """`make run` seeds at every start: what the user removed stays removed, nothing is recorded in
    anyone's name, and removing the IAM manager no longer stops the next start."""
    _seed("--events", "200")
    acme = Organization.objects.get(name="Acme")
    owner = Actor.of(acme.owner)
    member_remove(actor=owner, membership=Membership.objects.get(user__email="iam-manager@acme.example"))
    group_delete(actor=owner, group=Group.objects.get(organization=acme, name="Developers"))
    policy = Policy.objects.get(organization=acme, name="Audit Trail read-only")
    policy_delete(actor=owner, policy=policy)
    before = _counts()
    out = _seed()
    assert _counts() == before
    assert out.splitlines()[0] == "Demo already loaded (9 users and 2 organizations): nothing was written."
    assert not Group.objects.filter(organization=acme, name="Developers").exists()


@pytest.mark.django_db
def test_seed_demo_loads_nothing_into_a_database_someone_uses(django_user_model):
    django_user_model.objects.create_user(email="me@example.com", password="not-the-demo's")
    out = _seed("--events", "100")
    assert out.strip() == (
        "Demo not loaded: this database already holds 1 user, and the demo loads only into an empty "
        "one. Nothing was written."
    )
    assert _counts() == {**dict.fromkeys(_counts(), 0), "User": 1}


@pytest.mark.django_db
def test_force_loads_the_demo_beside_what_a_database_holds_when_asked(django_user_model):
    django_user_model.objects.create_user(email="me@example.com", password="not-the-demo's")
    out = _seed("--events", "100", "--force")
    assert out.startswith("Forced: loading the demo (100 events over 30 days).")
    assert Organization.objects.filter(name="Acme").exists()
    assert django_user_model.objects.filter(email="me@example.com").exists()


@pytest.mark.django_db
def test_seed_demo_prints_each_stage_of_the_first_load_as_it_ends():
    lines = _seed("--events", "300", "--days", "7").splitlines()
    assert lines[0] == "Empty database: loading the demo (300 events over 7 days)."
    assert re.fullmatch(
        r"Made the demo's organizations, people and IAM objects: 9 users, 4 projects, 3 applications, "
        r"6 policies \(\d+\.\d s\)\.",
        lines[1],
    )
    assert lines[2].startswith("Recorded 300 events over 7 days in ")
    assert lines[3].startswith("Recorded ") and lines[3].endswith(
        " console sign-ins (authentication events)."
    )
    assert re.search(r"^Demo loaded in \d+\.\d s\.$", "\n".join(lines), re.MULTILINE)


@pytest.mark.django_db
def test_force_appends_events_to_the_demo_as_the_user_left_it():
    _seed("--events", "100")
    acme = Organization.objects.get(name="Acme")
    member_remove(
        actor=Actor.of(acme.owner), membership=Membership.objects.get(user__email="iam-manager@acme.example")
    )
    before = _counts()
    _seed("--events", "100", "--force")
    after = _counts()
    assert after.pop("Event") == before.pop("Event") + 100
    assert after == before  # the IAM manager is not made a member again, nothing else is rebuilt


@pytest.mark.django_db
def test_force_refuses_clearly_when_the_demo_is_no_longer_whole():
    _seed("--events", "100")
    acme = Organization.objects.get(name="Acme")
    application_delete(actor=Actor.of(acme.owner), application=Application.objects.get(name="backup-bot"))
    before = _counts()
    with pytest.raises(CommandError, match=r"application backup-bot missing.*no events were added"):
        _seed("--events", "100", "--force")
    assert _counts() == before


@pytest.mark.django_db
def test_the_demo_passwords_are_hashed_by_the_configured_hasher_and_sign_in(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    world = demo_seed(events=0).world
    hashes = {user.password for user in User.objects.all()}
    assert len(hashes) == 1 and hashes.pop().startswith("pbkdf2_sha256$")  # at full strength, hashed once
    assert all(user.check_password(DEMO_PASSWORD) for user in world.users.values())


@pytest.mark.django_db
@pytest.mark.parametrize("args", [["--days", "0"], ["--events", "-5"]])
def test_seed_demo_refuses_nonsense(args):
    with pytest.raises(CommandError):
        _seed(*args)


def test_the_demo_uses_the_catalogues_products_and_only_methods_whose_resources_it_can_name():
    assert len(DEMO_PRODUCTS) >= 12
    for product in DEMO_PRODUCTS:
        assert catalogue.product(product.name) is product
        for method in demo_methods(product):
            assert product.service_of(method) is not None
            if product.name not in ORGANIZATION_PRODUCTS:
                assert product.resource_type_of(method) in RESOURCE_POOLS
    assert "CloseOrganization" not in demo_methods(catalogue.product("account"))
    iam = demo_methods(catalogue.product("iam"))
    assert "CreateAPIKey" in iam and "CreatePasswordLogin" not in iam and "DeleteUser" not in iam


def test_demo_logins_documented_in_the_readme_match_the_command():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for login in LOGINS:
        assert login.email in readme
    assert DEMO_PASSWORD in readme


def test_the_generator_is_reproducible_with_a_seed(db):
    first = demo_seed(events=0)
    now = timezone.now()
    a = [
        (e.method_name, e.recorded_at)
        for e in demo_events(first.world, count=50, days=3, now=now, rng=random.Random(1))
    ]
    b = [
        (e.method_name, e.recorded_at)
        for e in demo_events(first.world, count=50, days=3, now=now, rng=random.Random(1))
    ]
    assert a == b


def test_acme_has_its_people_projects_and_iam(seeded):
    acme, globex = seeded.world.acme, seeded.world.globex
    users = seeded.world.users
    assert acme.owner.email == "owner@acme.example"
    assert sorted(acme.projects.values_list("name", flat=True)) == ["data-lake", "internal-tools", "web-shop"]
    assert has_permission(users["auditor@acme.example"], acme, "audit_trail:read")
    assert not has_permission(users["auditor@acme.example"], acme, "iam:write")
    assert not has_permission(users["member@acme.example"], acme, "audit_trail:read")
    assert has_permission(users["iam-manager@acme.example"], acme, "iam:write")
    assert not has_permission(users["former@acme.example"], acme, "audit_trail:read")
    former = Membership.objects.get(organization=acme, user=users["former@acme.example"])
    assert former.removed_at is not None
    assert set(acme.applications.values_list("name", flat=True)) == {
        "terraform-ci",
        "backup-bot",
        "siem-exporter",
    }
    assert Policy.objects.filter(organization=acme, application__isnull=False).count() == 3
    assert has_permission(seeded.world.applications["siem-exporter"], acme, "audit_trail:read")
    assert globex.owner.email == "owner@globex.example"
    assert not has_permission(globex.owner, acme, "audit_trail:read")


def test_events_name_the_catalogues_products_services_methods_and_resource_types(acme_events):
    seen = set(acme_events.values_list("product_name", "service_name", "method_name").distinct())
    for product_name, service_name, method_name in seen:
        product = catalogue.product(product_name)
        assert product is not None and method_name in product.methods
        assert product.service_of(method_name).name == service_name
    assert len({product for product, _, _ in seen}) >= 12
    typed = acme_events.filter(status_code=200).values_list("product_name", "method_name", "resources")
    for product_name, method_name, resources in typed:
        assert resources[0]["type"] == catalogue.product(product_name).resource_type_of(method_name)


def test_events_spread_over_fr_par_nl_ams_and_global(acme_events):
    regions = dict(acme_events.values_list("region").annotate(n=Count("id")))
    assert set(regions) == {"fr-par", "nl-ams"}
    assert regions["nl-ams"] > 0.15 * sum(regions.values())
    globals_ = acme_events.filter(locality="global")
    assert globals_.exists()
    assert set(globals_.values_list("region", flat=True).distinct()) == {"fr-par"}
    assert acme_events.filter(locality__regex=r"^(fr-par|nl-ams)-[1-3]$").exists()  # zones


def test_about_three_percent_are_403s(acme_events):
    share = acme_events.filter(status_code=403).count() / acme_events.count()
    assert 0.02 <= share <= 0.05
    assert set(acme_events.values_list("status_code", flat=True).distinct()) == {200, 403}


def test_the_last_hour_is_busy_and_holds_a_burst_of_403s(acme_events):
    recent = acme_events.filter(recorded_at__gte=timezone.now() - timedelta(hours=1))
    assert recent.count() >= 40
    burst = recent.filter(status_code=403, principal_name="member@acme.example", region="fr-par")
    # More than 20 refusals within 5 minutes in one region: fr-par's HttpForbiddenErrorRateHigh.
    assert any(
        burst.filter(recorded_at__gte=at, recorded_at__lt=at + timedelta(minutes=5)).count() > 20
        for at in burst.values_list("recorded_at", flat=True)
    )
    assert not acme_events.filter(recorded_at__gt=timezone.now()).exists()


def test_some_events_are_by_the_removed_member_and_only_before_they_left(seeded, acme_events):
    former = seeded.world.users["former@acme.example"]
    theirs = acme_events.filter(principal_id=former.pk)
    assert theirs.exists()
    assert not theirs.filter(recorded_at__gte=seeded.world.removed_at).exists()
    removal = acme_events.get(product_name="iam", method_name="DeleteUser")
    assert removal.principal_id == seeded.world.acme.owner_id
    assert removal.resources[0]["id"] == str(former.pk)


def test_some_events_are_by_scaleway_itself(acme_events):
    system = acme_events.filter(principal_type="system")
    assert system.exists()
    assert set(system.values_list("principal_name", flat=True).distinct()) == {"Scaleway"}
    assert not system.filter(principal_id__isnull=False).exists()


def test_events_carry_realistic_fingerprints_and_redacted_secrets(acme_events):
    users = acme_events.filter(principal_type__in=["user", "application"])
    assert not users.filter(source_ip__isnull=True).exists()
    agents = set(acme_events.values_list("user_agent", flat=True).distinct())
    assert any(a.startswith("scaleway-cli/") for a in agents)
    assert any("terraform/" in a for a in agents)
    assert any(a.startswith("scaleway-sdk-go/") for a in agents)
    assert any(a.startswith("Mozilla/5.0") for a in agents)
    assert acme_events.filter(request_id="").count() == 0
    bodies = [json.dumps(body) for body in acme_events.values_list("request_body", flat=True)]
    assert any('"password": "REDACTED"' in body for body in bodies)
    assert not any("passw0rd" in body or "s3cr3t" in body or "sk_live" in body for body in bodies)
    # (iam_api_key is left out: random UpdateAPIKey/DeleteAPIKey calls are rare enough that a 2,000-event
    # sample, which depends on the weekday and hour, may have none; the API-key resource shape is tested in tests/api/test_iam_api.py and the IAM browser test.)
    typed = acme_events.filter(status_code=200).exclude(method_name="CreateAPIKey")
    resource_types = {r["type"] for resources in typed.values_list("resources", flat=True) for r in resources}
    assert {
        "instance_server",
        "secret_manager_secret",
        "kube_cluster",
        "rdb_instance",
    } <= resource_types


def test_globex_has_a_few_events_that_share_nothing_with_acme(seeded, acme_events):
    globex_events = Event.objects.filter(organization_id=seeded.world.globex.pk)
    assert 0 < globex_events.count() < acme_events.count() / 10
    acme_ids = {str(p.pk) for p in seeded.world.acme.projects.all()} | {
        r["id"] for resources in acme_events.values_list("resources", flat=True) for r in resources
    }
    globex_ids = {str(p) for p in globex_events.values_list("project_id", flat=True)} | {
        r["id"] for resources in globex_events.values_list("resources", flat=True) for r in resources
    }
    assert not acme_ids & globex_ids


def test_the_demo_logins_work_and_the_auditor_sees_the_events_page(seeded):
    auditor, member = Client(), Client()
    assert auditor.login(email="auditor@acme.example", password=DEMO_PASSWORD)
    assert auditor.get("/audit-trail/events/").status_code == 200
    assert member.login(email="member@acme.example", password=DEMO_PASSWORD)
    assert member.get("/audit-trail/events/").status_code == 403
    admin = Client()
    assert admin.login(email="admin@audit-trail.example", password=DEMO_PASSWORD)
    assert admin.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_seed_demo_turns_alerting_on():
    out = _seed("--events", "2000")
    acme = Organization.objects.get(name="Acme")
    fired = Alert.objects.filter(organization=acme)
    assert fired.exists()
    assert f"Alerting on in fr-par for Acme: {fired.filter(region='fr-par').count()} alert(s) fired." in out


def test_scaleway_creates_each_organizations_default_groups(seeded):
    for organization in (seeded.world.acme, seeded.world.globex):
        groups = Event.objects.filter(organization_id=organization.pk, method_name="CreateGroup")
        by_scaleway = groups.filter(principal_type="system", principal_name="Scaleway", principal_id=None)
        assert sorted(e.resources[0]["name"] for e in by_scaleway) == sorted(g for g, _, _ in DEFAULT_GROUPS)
        assert set(Group.objects.filter(organization=organization).values_list("name", flat=True)) >= {
            g for g, _, _ in DEFAULT_GROUPS
        }


def test_the_set_up_goes_through_iam_so_iam_logs_show_who_did_what(seeded):
    acme, users = seeded.world.acme, seeded.world.users
    owner, manager = users["owner@acme.example"], users["iam-manager@acme.example"]
    logs = [IamLog.from_event(e) for e in iam_log_events(organization_id=acme.pk, bearer_id=owner.pk)]
    assert {(log.action, log.resource_type) for log in logs} >= {
        ("created", "policy"),
        ("created", "api_key"),
    }
    by_manager = iam_log_events(organization_id=acme.pk, bearer_id=manager.pk)
    assert set(by_manager.values_list("method_name", flat=True)) >= {
        "CreateApplication",
        "CreateGroup",
        "AddGroupMember",
        "CreatePolicy",
    }
    developers = Group.objects.get(organization=acme, name="Developers")
    added = Event.objects.filter(
        organization_id=acme.pk,
        method_name="AddGroupMember",
        resources__has_item={"id": str(developers.pk), "type": "iam_group"},
    )
    by_service = [e for e in added if "user_id" in e.request_body]  # the generator's bodies name no member
    assert {e.request_body["user_id"] for e in by_service} == {
        str(users["lucas.bernard@acme.example"].pk),
        str(users["chloe.moreau@acme.example"].pk),
    }
    assert all(e.source_ip == "81.250.12.40" and e.principal_id == manager.pk for e in by_service)
    assert len({e.request_id for e in by_service}) == 2


def test_iam_create_and_delete_events_are_about_short_lived_objects_not_the_real_ones(seeded, acme_events):
    real = {str(pk) for pk in Application.objects.values_list("pk", flat=True)}
    real |= {str(pk) for pk in Policy.objects.values_list("pk", flat=True)}
    generated = acme_events.filter(
        method_name__in=["DeleteApplication", "DeletePolicy"],
        recorded_at__lt=timezone.now() - timedelta(minutes=1),
    )
    assert generated.filter(status_code=200).exists()
    assert (
        not {r["id"] for resources in generated.values_list("resources", flat=True) for r in resources} & real
    )


@pytest.mark.django_db
def test_a_world_without_events_is_a_loaded_demo_that_a_later_run_leaves_alone():
    assert demo_seed(events=0).loaded  # the set-up alone records IAM events
    before = _counts()
    again = demo_seed(events=100, seed=3)
    assert again.skipped and again.events == 0
    assert _counts() == before


def test_the_first_load_records_realistic_console_sign_ins(seeded):
    acme, users = seeded.world.acme, seeded.world.users
    assert seeded.sign_ins > 50
    acme_sign_ins = AuthenticationEvent.objects.filter(organization_id=acme.pk)
    succeeded = acme_sign_ins.filter(result="success")
    assert {str(u) for u in succeeded.values_list("user_id", flat=True).distinct()} >= {
        str(users[e].pk) for e in ("owner@acme.example", "auditor@acme.example", "chloe.moreau@acme.example")
    }
    assert succeeded.filter(email="owner@acme.example").exclude(mfa_type="totp").count() == 0
    assert not acme_sign_ins.filter(
        email="former@acme.example", recorded_at__gte=seeded.world.removed_at
    ).exists()
    assert acme_sign_ins.filter(email="former@acme.example").exists()
    assert succeeded.filter(
        email="auditor@acme.example", recorded_at__gte=timezone.now() - timedelta(hours=1)
    ).exists()
    # The story: a brute force on the owner from a Tor exit node, until the throttle stepped in.
    attack = acme_sign_ins.filter(source_ip="185.220.101.47")
    assert (
        list(attack.order_by("recorded_at").values_list("failure_reason", flat=True))
        == ["invalid_password"] * 5 + ["throttled"] * 3
    )
    unknown = AuthenticationEvent.objects.filter(failure_reason="unknown_user")
    assert unknown.exists() and not unknown.exclude(organization_id=None).exists()
    assert AuthenticationEvent.objects.filter(organization_id=seeded.world.globex.pk).exists()
    assert not AuthenticationEvent.objects.filter(recorded_at__gt=timezone.now()).exists()
    assert all(e.id.version == 7 for e in acme_sign_ins[:20])


@pytest.mark.django_db
def test_force_adds_events_but_no_sign_ins():
    first = demo_seed(events=100, seed=1)
    again = demo_seed(events=100, seed=2, force=True)
    assert first.sign_ins > 0 and again.sign_ins == 0 and again.events == 100


@pytest.mark.django_db
@pytest.mark.parametrize(
    "now", [datetime(2026, 1, 20, 16, tzinfo=UTC), datetime(2026, 7, 20, 16, tzinfo=UTC)]
)
def test_people_sign_in_on_paris_mornings_summer_time_included(now):
    world = demo_world_ensure(now=now)
    sign_ins = demo_sign_ins(world, days=20, now=now, rng=random.Random(4))
    usual = [e for e in sign_ins if e.result == "success" and e.recorded_at < now - timedelta(hours=1)]
    assert len(usual) > 50
    assert all(time(8) <= e.recorded_at.astimezone(PARIS).time() <= time(10, 30) for e in usual)
    attack = [e.recorded_at.astimezone(PARIS) for e in sign_ins if e.source_ip == "185.220.101.47"]
    assert {(at.day, at.hour) for at in attack} == {(17, 2)}  # three nights ago, at 2 a.m. in Paris
