"""Sealing: each organization's events become leaves of its tree in arrival order, under signed heads."""

from __future__ import annotations

from datetime import UTC, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import call_command
from django.utils import timezone

from integrity import merkle
from integrity.canonical import canonical_bytes, head_message, key_id
from integrity.models import Leaf, PublicKey, TreeHead
from integrity.services import event_document, latest_head, leaf_hashes, seal, seal_sweep_due
from integrity.tasks import seal_sweep
from tests.factories import OrganizationFactory
from tests.integrity.conftest import make_events


def test_recorded_events_are_sealed_under_a_signed_head(acme, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        events = make_events(acme, 5)
    head = latest_head(acme.pk)
    assert head is not None and head.tree_size == 5
    leaves = list(Leaf.objects.filter(organization_id=acme.pk).order_by("index"))
    assert [leaf.event_id for leaf in leaves] == [e.id for e in events]
    expected = [merkle.leaf_hash(canonical_bytes(event_document(e))) for e in events]
    assert [bytes(leaf.hash) for leaf in leaves] == expected
    assert bytes(head.root_hash) == merkle.root(expected)
    public = PublicKey.objects.get(key_id=head.key_id)
    assert key_id(bytes(public.public_key)) == head.key_id
    message = head_message(
        organization_id=str(acme.pk),
        tree_size=5,
        root_hash=bytes(head.root_hash),
        timestamp_ms=head.timestamp_ms,
    )
    Ed25519PublicKey.from_public_bytes(bytes(public.public_key)).verify(bytes(head.signature), message)


def test_the_leaf_is_the_events_canonical_json(acme, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        (event,) = make_events(acme, 1)
    recorded_at = event.recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    expected = (
        f'{{"id":"{event.id}","locality":"fr-par","method_name":"CreateSecret0",'
        f'"organization_id":"{acme.pk}","principal_name":"Scaleway","principal_type":"system",'
        f'"product_name":"secret-manager","recorded_at":"{recorded_at}",'
        '"request_body":{"name":"db-pass-0","note":"caf\\u00e9 \\u2615"},"request_id":"","resources":[],'
        '"service_name":"scaleway.secret_manager.v1beta1.Api","source_ip":"","status_code":200,"user_agent":""}'
    )
    assert canonical_bytes(event_document(event)) == expected.encode()
    assert bytes(Leaf.objects.get(event_id=event.id).hash) == merkle.leaf_hash(expected.encode())


def test_a_late_event_is_sealed_in_arrival_order_not_by_recorded_at(
    acme, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = make_events(acme, 3)
    with django_capture_on_commit_callbacks(execute=True):
        (late,) = make_events(acme, 1, recorded_at=timezone.now() - timedelta(days=3))
    order = list(
        Leaf.objects.filter(organization_id=acme.pk).order_by("index").values_list("event_id", flat=True)
    )
    assert order == [*[e.id for e in first], late.id]
    assert list(TreeHead.objects.filter(organization_id=acme.pk).values_list("tree_size", flat=True)) == [
        3,
        4,
    ]


def test_the_sweep_seals_events_whose_task_was_lost(
    acme, settings, django_capture_on_commit_callbacks
) -> None:
    settings.INTEGRITY_SEAL_ON_RECORD = False  # the enqueue is lost
    with django_capture_on_commit_callbacks(execute=True):
        events = make_events(acme, 4)
    assert latest_head(acme.pk) is None
    settings.INTEGRITY_SEAL_INTERVAL = 60
    assert seal_sweep() >= 1
    head = latest_head(acme.pk)
    assert head is not None and head.tree_size == 4
    assert set(Leaf.objects.filter(organization_id=acme.pk).values_list("event_id", flat=True)) == {
        e.id for e in events
    }
    assert acme.pk not in seal_sweep_due(interval=60)


def test_sealing_twice_seals_once(acme, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        events = make_events(acme, 3)
    assert seal(acme.pk, [e.id for e in events]) == 0
    assert seal(acme.pk) == 0
    assert TreeHead.objects.filter(organization_id=acme.pk).count() == 1


def test_each_organization_has_its_own_tree(acme, django_capture_on_commit_callbacks) -> None:
    other = OrganizationFactory()
    with django_capture_on_commit_callbacks(execute=True):
        make_events(acme, 2)
        make_events(other, 3)
    assert latest_head(acme.pk).tree_size == 2
    assert latest_head(other.pk).tree_size == 3
    assert len(leaf_hashes(other.pk, 3)) == 3


def test_the_key_command_creates_a_key_once(db, tmp_path, settings, capsys) -> None:
    from integrity.keys import clear_cache

    settings.INTEGRITY_SIGNING_KEY_FILE = str(tmp_path / "key.pem")
    clear_cache()
    call_command("integrity_key")
    first = capsys.readouterr().out
    assert "Created" in first and (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600
    clear_cache()
    call_command("integrity_key")
    second = capsys.readouterr().out
    assert "Created" not in second
    assert first.splitlines()[1:] == second.splitlines()
