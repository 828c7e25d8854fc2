"""verify_trail against a trail tampered with directly in the database, triggers out of the way."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from integrity.models import Leaf, TreeHead, VerificationRun
from integrity.verification import verify_organization
from tests.factories import OrganizationFactory
from tests.integrity.conftest import as_tamperer, make_events


@pytest.fixture
def trail(acme, django_capture_on_commit_callbacks):
    """Three sealing rounds: heads of sizes 4, 7 and 10."""
    events = []
    for n in (4, 3, 3):
        with django_capture_on_commit_callbacks(execute=True):
            events += make_events(acme, n)
    assert list(TreeHead.objects.filter(organization_id=acme.pk).values_list("tree_size", flat=True)) == [
        4,
        7,
        10,
    ]
    return events


def u(value: uuid.UUID) -> str:
    """A UUID as the database stores it (SQLite: 32 hex digits), for raw SQL."""
    return value.hex if connection.vendor == "sqlite" else str(value)


def verify(organization) -> str:
    """verify_trail's output for one organization; raises CommandError when it fails."""
    from io import StringIO

    out = StringIO()
    call_command("verify_trail", "--org", str(organization.pk), stdout=out, stderr=StringIO())
    return out.getvalue()


def broken(organization) -> str:
    with pytest.raises(CommandError) as failure:
        verify(organization)
    assert failure.value.returncode == 1
    run = VerificationRun.objects.filter(organization_id=organization.pk).latest("finished_at")
    assert not run.ok
    return run.message


def test_an_untouched_trail_verifies(acme, trail) -> None:
    out = verify(acme)
    assert "OK, 10 events under 3 signed heads" in out
    assert VerificationRun.objects.get(organization_id=acme.pk).ok


def test_a_changed_field_is_named(acme, trail) -> None:
    with as_tamperer() as cursor:
        cursor.execute("UPDATE audit_event SET method_name = 'Innocent' WHERE id = %s", [u(trail[5].id)])
    assert broken(acme) == f"event altered: event {trail[5].id} (leaf 5) differs from what was sealed"


def test_a_deleted_event_is_named(acme, trail) -> None:
    with as_tamperer() as cursor:
        cursor.execute("DELETE FROM audit_event WHERE id = %s", [u(trail[2].id)])
    assert broken(acme) == f"event removed: event {trail[2].id} (leaf 2) is no longer in the trail"


def test_an_inserted_event_is_named(acme, trail) -> None:
    forged = uuid.uuid4()
    with as_tamperer() as cursor:
        cursor.execute(
            "INSERT INTO audit_event (id, recorded_at, organization_id, locality, region, principal_type, "
            "principal_name, user_agent, product_name, service_name, method_name, resources, request_id, "
            "request_body, status_code) VALUES (%s, %s, %s, 'fr-par', 'fr-par', 'system', 'Scaleway', '', "
            "'iam', 'scaleway.iam.v1alpha1.Api', 'CreateAPIKey', '[]', '', '{}', 200)",
            [u(forged), connection.ops.adapt_datetimefield_value(trail[1].recorded_at), u(acme.pk)],
        )
    message = broken(acme)
    assert message.startswith(f"event inserted: event {forged} ")
    assert "in no sealed tree" in message


def test_two_events_swapped_in_order_are_named(acme, trail) -> None:
    with as_tamperer() as cursor:
        for old, new in ((5, -1), (8, 5), (-1, 8)):
            cursor.execute(
                'UPDATE integrity_leaf SET "index" = %s WHERE organization_id = %s AND "index" = %s',
                [new, u(acme.pk), old],
            )
    assert broken(acme).startswith(
        "order changed: leaves 4 to 6 are not in the order the head of size 7 signed"
    )


def test_a_forged_head_signature_is_named(acme, trail) -> None:
    head = TreeHead.objects.get(organization_id=acme.pk, tree_size=7)
    forged = bytes([bytes(head.signature)[0] ^ 1]) + bytes(head.signature)[1:]
    with as_tamperer() as cursor:
        cursor.execute("UPDATE integrity_treehead SET signature = %s WHERE id = %s", [forged, head.pk])
    assert broken(acme).startswith("bad signature: the head of size 7")


def test_a_removed_leaf_is_named(acme, trail) -> None:
    with as_tamperer() as cursor:
        cursor.execute('DELETE FROM integrity_leaf WHERE organization_id = %s AND "index" = 9', [u(acme.pk)])
    assert broken(acme).startswith("event removed: the head of size 10 signed leaves that are gone")


def test_another_organizations_tampering_leaves_this_one_green(
    acme, trail, django_capture_on_commit_callbacks
):
    other = OrganizationFactory()
    with django_capture_on_commit_callbacks(execute=True):
        (event,) = make_events(other, 1)
    with as_tamperer() as cursor:
        cursor.execute("UPDATE audit_event SET method_name = 'X' WHERE id = %s", [u(event.id)])
    assert "OK" in verify(acme)
    assert not verify_organization(other.pk).ok


def test_progress_is_printed_on_long_runs(acme, trail, monkeypatch) -> None:
    from integrity import verification

    monkeypatch.setattr(verification, "PROGRESS_EVERY", 3)
    lines: list[str] = []
    outcome = verify_organization(acme.pk, progress=lines.append)
    assert outcome.ok and outcome.leaves == 10
    assert lines == [f"{acme.pk}: {n} of 10 leaves verified" for n in (3, 6, 9)]
    assert timezone.now() >= VerificationRun.objects.get(organization_id=acme.pk).finished_at
    assert Leaf.objects.filter(organization_id=acme.pk).count() == 10


def test_a_malformed_org_is_a_command_error_not_a_crash(db) -> None:
    from io import StringIO

    with pytest.raises(CommandError, match="--org takes organization ids"):
        call_command("verify_trail", "--org", "acme", stdout=StringIO())
