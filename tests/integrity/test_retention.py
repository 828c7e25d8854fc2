"""Retention that keeps the proof: a purge removes what is past the retention, after a signed
checkpoint, and the remaining trail still verifies; a legal hold blocks it; only the owner purges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.models import Event, SystemEvent
from audit.partitions import _add_months, ensure_partitions, partition_name
from audit.services import Actor
from integrity.canonical import checkpoint_message
from integrity.keys import signing_key
from integrity.models import Checkpoint, Leaf, RetentionPolicy
from integrity.retention import RetentionRefused, checkpoint_document, purge, set_legal_hold, set_retention
from integrity.services import seal
from integrity.tasks import retention_sweep
from integrity.verification import ALTERED, REMOVED, verify_organization
from tests.audit.test_database import app_as_runtime, runtime_role  # noqa: F401 (fixtures)
from tests.factories import OrganizationFactory
from tests.integrity.conftest import as_tamperer, make_events

POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not POSTGRES, reason="PostgreSQL-only: roles and partitions")


def u(value) -> str:
    return value.hex if connection.vendor == "sqlite" else str(value)


def month(offset: int) -> datetime:
    """The 15th of the month `offset` months from this one, at noon UTC."""
    first = _add_months(timezone.now().date().replace(day=1), offset)
    return datetime(first.year, first.month, 15, 12, tzinfo=UTC)


def partitions() -> list[str]:
    if not POSTGRES:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'audit_event'::regclass"
        )
        return sorted(row[0] for row in cursor.fetchall())


@pytest.fixture
def trail(acme):
    """Events over several months, sealed in three rounds: six months ago, five months ago, this
    month; then a late arrival recorded six months ago, sealed after the recent ones (so its leaf
    sits between kept leaves)."""
    ensure_partitions(months_back=7)
    old = make_events(acme, 3, recorded_at=month(-6))
    seal(acme.pk)
    older = make_events(acme, 2, recorded_at=month(-5))
    seal(acme.pk)
    recent = make_events(acme, 4)
    seal(acme.pk)
    late = make_events(acme, 1, recorded_at=month(-6))
    seal(acme.pk)
    newest = make_events(acme, 2)
    seal(acme.pk)
    return {"old": old + late, "older": older, "kept": recent + newest}


def test_purging_keeps_verify_trail_green_and_records_a_signed_checkpoint(acme, trail) -> None:
    before = partitions()
    report = purge()
    # What is past 90 days is gone; what is within is kept.
    remaining = set(Event.objects.filter(organization_id=acme.pk).values_list("id", flat=True))
    assert remaining == {e.id for e in trail["kept"]}
    assert report.removed == 6
    if POSTGRES:  # the two old months' partitions were detached and dropped whole (and empty older ones)
        assert {partition_name(month(-6).date()), partition_name(month(-5).date())} <= set(report.dropped)
        assert partition_name(month(-2).date()) not in report.dropped
        assert partition_name(month(0).date()) in partitions()
        assert set(before) - set(partitions()) == set(report.dropped)
        assert report.deleted == 0
    # The checkpoint: the head at the cut, the leaf index set (the late arrival's leaf 9 included),
    # the count and the range, under a signature the public key verifies.
    checkpoint = Checkpoint.objects.get(organization_id=acme.pk)
    assert checkpoint.count == 6
    assert checkpoint.tree_size == 12
    assert checkpoint.leaves == [[0, 4], [9, 9]]
    assert checkpoint.first_at == month(-6) and checkpoint.last_at == month(-5)
    private, _ = signing_key()
    private.public_key().verify(
        bytes(checkpoint.signature), checkpoint_message(checkpoint_document(checkpoint))
    )
    # The leaves stay; the trail verifies, the removed events counted as such.
    assert Leaf.objects.filter(organization_id=acme.pk).count() == 12
    outcome = verify_organization(acme.pk)
    assert outcome.ok, outcome.message
    assert (outcome.leaves, outcome.purged) == (12, 6)
    out = StringIO()
    call_command("verify_trail", "--org", str(acme.pk), stdout=out, stderr=StringIO())
    assert "OK, 12 events under 5 signed heads" in out.getvalue()
    assert "6 removed by retention" in out.getvalue()
    # The purge is a system event of the organization's.
    system = SystemEvent.objects.get(organization_id=acme.pk, system_name="RetentionPurge")
    assert system.resources[0]["id"] == str(checkpoint.pk)
    # Again: nothing more to remove, no second checkpoint.
    assert purge().removed == 0
    assert Checkpoint.objects.filter(organization_id=acme.pk).count() == 1


def test_a_tampered_event_in_the_kept_range_is_still_caught_after_a_purge(acme, trail) -> None:
    purge()
    target = trail["kept"][1]
    with as_tamperer() as cursor:
        cursor.execute("UPDATE audit_event SET method_name = 'Innocent' WHERE id = %s", [u(target.id)])
    outcome = verify_organization(acme.pk)
    assert outcome.kind == ALTERED
    assert str(target.id) in outcome.message


def test_a_kept_event_deleted_after_a_purge_is_named_removed(acme, trail) -> None:
    purge()
    target = trail["kept"][0]
    with as_tamperer() as cursor:
        cursor.execute("DELETE FROM audit_event WHERE id = %s", [u(target.id)])
    outcome = verify_organization(acme.pk)
    assert outcome.kind == REMOVED
    assert str(target.id) in outcome.message


def test_a_forged_checkpoint_does_not_excuse_a_deletion(acme, trail) -> None:
    purge()
    target = trail["kept"][0]
    leaf = Leaf.objects.get(organization_id=acme.pk, event_id=target.id)
    genuine = Checkpoint.objects.get(organization_id=acme.pk)
    Checkpoint.objects.create(
        organization_id=acme.pk,
        cut=timezone.now(),
        tree_size=genuine.tree_size,
        root_hash=bytes(genuine.root_hash),
        count=1,
        leaves=[[leaf.index, leaf.index]],
        timestamp_ms=genuine.timestamp_ms,
        key_id=genuine.key_id,
        signature=bytes(genuine.signature),  # signs another document
    )
    with as_tamperer() as cursor:
        cursor.execute("DELETE FROM audit_event WHERE id = %s", [u(target.id)])
    outcome = verify_organization(acme.pk)
    assert not outcome.ok
    assert outcome.message.startswith("bad signature: the retention checkpoint")


def test_a_legal_hold_blocks_the_purge_and_its_setting_and_lifting_are_in_the_trail(
    acme, owner, trail
) -> None:
    set_legal_hold(acme.pk, hold=True, actor=Actor.of(owner), reason="litigation 2026-14")
    report = purge()
    assert report.held == [acme.pk]
    assert report.removed == 0 and report.deleted == 0
    assert Event.objects.filter(organization_id=acme.pk, recorded_at__lt=month(-4)).count() == 6
    assert not Checkpoint.objects.exists()
    if POSTGRES:  # the months that hold its events stay (empty older ones may go)
        assert {partition_name(month(-6).date()), partition_name(month(-5).date())} <= set(partitions())
    # Lifted: the next purge removes what is past the retention.
    set_legal_hold(acme.pk, hold=False, actor=Actor.of(owner))
    assert purge().removed == 6
    changes = list(
        Event.objects.filter(organization_id=acme.pk, method_name__in=["SetLegalHold", "LiftLegalHold"])
        .order_by("recorded_at")
        .values_list("method_name", "principal_name", "request_body")
    )
    assert [(m, p) for m, p, _ in changes] == [("SetLegalHold", owner.email), ("LiftLegalHold", owner.email)]
    assert changes[0][2]["reason"] == "litigation 2026-14"
    seal(acme.pk)
    assert verify_organization(acme.pk).ok


def test_one_organizations_hold_keeps_the_shared_partition_but_not_the_others_rows(
    acme, owner, trail
) -> None:
    globex = OrganizationFactory(name="Globex")
    theirs = make_events(globex, 2, recorded_at=month(-6))
    seal(globex.pk)
    set_legal_hold(globex.pk, hold=True, actor=Actor.of(owner))
    report = purge()
    # Globex's events hold six months ago's partition: it stays, acme's rows in it are deleted.
    kept = Event.objects.filter(organization_id=globex.pk).exclude(method_name="SetLegalHold")
    assert set(kept.values_list("id", flat=True)) == {e.id for e in theirs}
    assert not Event.objects.filter(organization_id=acme.pk, recorded_at__lt=month(-4)).exists()
    assert report.removed == 6
    if POSTGRES:
        assert partition_name(month(-5).date()) in report.dropped
        assert partition_name(month(-6).date()) not in report.dropped
        assert report.deleted == 4
    assert verify_organization(acme.pk).ok
    seal(globex.pk)  # the hold's own event
    assert verify_organization(globex.pk).ok


def test_a_shorter_retention_deletes_rows_inside_a_kept_partition(acme, trail) -> None:
    globex = OrganizationFactory(name="Globex")
    ten_days_ago = make_events(globex, 2, recorded_at=timezone.now() - timedelta(days=10))
    fresh = make_events(globex, 1)
    seal(globex.pk)
    set_retention(globex.pk, 7, actor=Actor.system())
    purge()
    remaining = set(
        Event.objects.filter(organization_id=globex.pk)
        .exclude(method_name="SetRetention")
        .values_list("id", flat=True)
    )
    assert remaining == {fresh[0].id}
    assert not remaining & {e.id for e in ten_days_ago}
    assert verify_organization(globex.pk).ok
    assert RetentionPolicy.objects.get(organization_id=globex.pk).days == 7


@postgres_only
def test_the_runtime_role_is_refused_the_purge(acme, app_as_runtime) -> None:  # noqa: F811
    make_events(acme, 3, recorded_at=month(-6))
    with pytest.raises(RetentionRefused, match="does not own audit_event"):
        purge()
    assert Event.objects.filter(organization_id=acme.pk).count() == 3
    assert not Checkpoint.objects.exists()


def test_legal_hold_command_sets_and_lifts_with_who_did_it(acme, owner) -> None:
    out = StringIO()
    call_command(
        "legal_hold", "--org", str(acme.pk), "--set", "--by", owner.email, "--reason", "x", stdout=out
    )
    assert "under legal hold" in out.getvalue()
    assert RetentionPolicy.objects.get(organization_id=acme.pk).legal_hold
    call_command("legal_hold", "--org", str(acme.pk), "--lift", "--by", owner.email, stdout=StringIO())
    policy = RetentionPolicy.objects.get(organization_id=acme.pk)
    assert not policy.legal_hold and policy.hold_changed_by == owner.email
    assert Event.objects.filter(organization_id=acme.pk, method_name="LiftLegalHold").count() == 1


def test_the_workers_sweep_purges_once_an_interval(acme, trail, django_capture_on_commit_callbacks) -> None:
    from django.core.cache import cache

    cache.delete("integrity:retention-purge")
    with django_capture_on_commit_callbacks(execute=True):
        assert retention_sweep() == 1
    assert not Event.objects.filter(organization_id=acme.pk, recorded_at__lt=month(-4)).exists()
    assert Checkpoint.objects.filter(organization_id=acme.pk).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert retention_sweep() == 0  # within the interval: no second purge
    assert "integrity.tasks.retention_sweep" in settings.TASKS_WORKER_SWEEPS


SEED = """
from datetime import timedelta
from django.utils import timezone
from audit.services import Actor, build_event, record_many
from iam.models import Organization, User
user = User.objects.create_user(email="owner@purge.test", password="unused-password-123")
organization = Organization.objects.create(name="Purge", owner=user)
old = timezone.now() - timedelta(days=200)
fields = dict(organization_id=organization.pk, actor=Actor.system(), product_name="iam",
              service_name="scaleway.iam.v1alpha1.Api", method_name="ListLogs", locality="global")
record_many([build_event(recorded_at=old, **fields) for _ in range(3)] + [build_event(**fields)])
"""


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_worker_as_the_runtime_role_purges_through_the_owner_url_only(tmp_path):
    """A fresh database whose owner is no superuser, each step a real process as in production: the
    runtime role alone is refused the purge (nothing removed); with DATABASE_OWNER_URL it purges a
    month's partition, and verify_trail, run as the runtime role, is green."""
    import os
    import subprocess
    import sys

    from tests.audit.test_database import PASSWORD, ROOT, _connect_as, _role_name

    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    name, role, owner = f"{db['NAME']}_purge"[:63], _role_name(), f"{db['NAME']}_powner"[:63]
    owner_url = f"postgres://{owner}:{PASSWORD}@{host}:{port}/{name}"
    runtime_url = f"postgres://{role}:{PASSWORD}@{host}:{port}/{name}"
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)

    def manage(
        *args: str, owner_url: str | None = owner_url, url: str = runtime_url
    ) -> subprocess.CompletedProcess:
        env = {**os.environ, "DATABASE_URL": url, "INTEGRITY_SIGNING_KEY_FILE": str(tmp_path / "key.pem")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.pop("DATABASE_OWNER_URL", None)
        if owner_url:
            env["DATABASE_OWNER_URL"] = owner_url
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def clean(server) -> None:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for leftover in (role, owner):
            server.execute(f'DROP ROLE IF EXISTS "{leftover}"')

    def count(sql: str) -> int:
        import psycopg

        with psycopg.connect(owner_url, autocommit=True) as conn:
            return conn.execute(sql).fetchone()[0]

    with _connect_as(db["USER"], "postgres") as server:
        clean(server)
        server.execute(f"CREATE ROLE \"{owner}\" LOGIN CREATEROLE PASSWORD '{PASSWORD}'")
        server.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        try:
            for step in (
                ("migrate", "--noinput"),
                ("create_runtime_role", "--role", role, "--password-file", str(secret)),
                ("ensure_partitions", "--months-back", "8"),
            ):
                done = manage(*step)
                assert done.returncode == 0, done.stderr
            seeded = manage("shell", "-c", SEED)
            assert seeded.returncode == 0, seeded.stderr
            old_partition = partition_name((timezone.now() - timedelta(days=200)).date().replace(day=1))
            # The runtime role alone: refused, nothing removed, no checkpoint.
            refused = manage("purge_trail", owner_url=None)
            assert refused.returncode != 0
            assert "does not own audit_event" in refused.stderr
            assert count("SELECT count(*) FROM audit_event") == 4
            assert count("SELECT count(*) FROM integrity_checkpoint") == 0
            # Through the owner's URL: the old month's partition goes, after a checkpoint.
            purged = manage("purge_trail")
            assert purged.returncode == 0, purged.stderr
            assert "3 events recorded before" in purged.stdout
            assert old_partition in purged.stdout
            assert count("SELECT count(*) FROM audit_event") == 1
            assert count(f"SELECT count(*) FROM pg_class WHERE relname = '{old_partition}'") == 0
            assert count("SELECT count(*) FROM integrity_checkpoint") == 1
            assert count("SELECT count(*) FROM audit_systemevent WHERE system_name = 'RetentionPurge'") == 1
            verified = manage("verify_trail")
            assert verified.returncode == 0, verified.stdout + verified.stderr
            assert "3 removed by retention" in verified.stdout
        finally:
            clean(server)


def test_the_timelines_hourly_counts_forget_what_a_purge_removed(acme, trail) -> None:
    """The door's per-hour counts (`EventRollup`, which the long timeline reads) are recounted
    for the purged hours: a 90-day timeline never shows events that are gone."""
    from django.db.models import Sum

    from audit.models import EventRollup

    globex = OrganizationFactory(name="Globex")
    make_events(globex, 2, recorded_at=timezone.now() - timedelta(days=10))
    make_events(globex, 1)
    set_retention(globex.pk, 7, actor=Actor.system())
    purge()
    for organization in (acme, globex):
        counted = EventRollup.objects.filter(organization_id=organization.pk).aggregate(n=Sum("events"))["n"]
        assert counted == Event.objects.filter(organization_id=organization.pk).count()
    assert not EventRollup.objects.filter(organization_id=acme.pk, hour__lt=month(-4)).exists()
