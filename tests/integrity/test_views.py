"""The console: the Integrity tab, an event's proof page, and the drawer's integrity line."""

from __future__ import annotations

import uuid

from django.urls import reverse

from integrity.services import seal
from tests.conftest import HX_HEADERS
from tests.factories import OrganizationFactory
from tests.integrity.conftest import as_tamperer, make_events

PAGE = reverse("integrity:page")


def proof_url(event) -> str:
    return reverse("integrity:event", args=[event.pk])


def test_the_integrity_page_shows_the_latest_head_and_its_history(
    auditor_client, acme, django_assert_num_queries
):
    make_events(acme, 2)
    seal(acme.pk)
    make_events(acme, 3)
    seal(acme.pk)
    with django_assert_num_queries(9):  # the retention policy and its checkpoints: one query each
        html = auditor_client.get(PAGE).content.decode()
    assert "Latest signed tree head" in html and 'aria-current="page">Integrity</a>' in html
    assert html.count("<tr><td>") == 2  # two heads
    assert "has not been verified yet" in html


def test_the_integrity_page_shows_the_last_verification(auditor_client, acme) -> None:
    from integrity.verification import verify_organization

    make_events(acme, 2)
    seal(acme.pk)
    verify_organization(acme.pk)
    html = auditor_client.get(PAGE).content.decode()
    assert 'badge-success">Verified</strong>' in html and "events checked" in html


def test_an_events_proof_page_says_verified_and_shows_the_proof(auditor_client, acme) -> None:
    events = make_events(acme, 5)
    seal(acme.pk)
    html = auditor_client.get(proof_url(events[2])).content.decode()
    assert "<html" in html and ">Verified</strong>" in html and "Audit path" in html
    assert html.count("<li><code") == 3  # a tree of 5 or 6 leaves: three siblings on the path


def test_the_drawers_region_is_the_status_only(auditor_client, acme) -> None:
    events = make_events(acme, 2)
    seal(acme.pk)
    response = auditor_client.get(proof_url(events[0]), headers=HX_HEADERS)
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="integrity-status"') and "<html" not in html
    assert ">Verified</strong>" in html and "Audit path" not in html
    assert "HX-Request" in response["Vary"]
    restored = auditor_client.get(
        proof_url(events[0]), headers={**HX_HEADERS, "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restored.content.decode()


def test_an_unsealed_event_is_not_yet_sealed(auditor_client, acme, settings) -> None:
    settings.INTEGRITY_SEAL_ON_RECORD = False
    (event,) = make_events(acme, 1)
    html = auditor_client.get(proof_url(event), headers=HX_HEADERS).content.decode()
    assert "Not yet sealed" in html and f"within {settings.INTEGRITY_SEAL_INTERVAL} seconds" in html


def test_an_altered_event_does_not_verify(auditor_client, acme) -> None:
    (event,) = make_events(acme, 1)
    seal(acme.pk)
    from django.db import connection

    with as_tamperer() as cursor:
        cursor.execute(
            "UPDATE audit_event SET method_name = 'Innocent' WHERE id = %s",
            [event.id.hex if connection.vendor == "sqlite" else str(event.id)],
        )
    html = auditor_client.get(proof_url(event)).content.decode()
    assert "Does not verify" in html and "differs from what was sealed" in html


def test_another_organizations_event_is_not_found(auditor_client, acme) -> None:
    (foreign,) = make_events(OrganizationFactory(), 1)
    assert auditor_client.get(proof_url(foreign)).status_code == 404
    assert auditor_client.get(reverse("integrity:event", args=[uuid.uuid4()])).status_code == 404


def test_a_member_without_rights_is_refused(member_client, acme) -> None:
    (event,) = make_events(acme, 1)
    assert member_client.get(PAGE).status_code == 403
    assert member_client.get(proof_url(event)).status_code == 403


def test_the_drawer_loads_the_integrity_line(auditor_client, acme) -> None:
    (event,) = make_events(acme, 1)
    html = auditor_client.get(reverse("audit:event", args=[event.pk])).content.decode()
    assert f'href="{proof_url(event)}" hx-get="{proof_url(event)}" hx-trigger="load"' in html


# --- Retention (owners only) ---------------------------------------------------------------------


def test_the_owner_sets_the_retention_and_a_legal_hold_each_recorded_with_who(
    owner_client, owner, acme
) -> None:
    from audit.models import Event
    from integrity.models import RetentionPolicy

    html = owner_client.get(PAGE).content.decode()
    assert "90 days" in html and "Save retention" in html
    response = owner_client.post(PAGE, {"days": "30", "legal_hold": "on", "reason": "litigation"})
    assert response.status_code == 302
    policy = RetentionPolicy.objects.get(organization_id=acme.pk)
    assert policy.days == 30 and policy.legal_hold and policy.hold_changed_by == owner.email
    recorded = dict(
        Event.objects.filter(
            organization_id=acme.pk, method_name__in=["SetRetention", "SetLegalHold"]
        ).values_list("method_name", "principal_name")
    )
    assert recorded == {"SetRetention": owner.email, "SetLegalHold": owner.email}
    owner_client.post(PAGE, {"days": "30"})  # the checkbox left empty: the hold is lifted
    assert not RetentionPolicy.objects.get(organization_id=acme.pk).legal_hold
    assert Event.objects.filter(organization_id=acme.pk, method_name="LiftLegalHold").count() == 1
    assert "30 days" in owner_client.get(PAGE).content.decode()


def test_a_bad_retention_is_a_form_error(owner_client, acme) -> None:
    from integrity.models import RetentionPolicy

    for days in ("0", "-3", "abc", ""):
        response = owner_client.post(PAGE, {"days": days})
        assert response.status_code == 400
        assert "field-error" in response.content.decode()
    assert not RetentionPolicy.objects.exists()


def test_only_the_owner_changes_the_retention(auditor_client, acme) -> None:
    from integrity.models import RetentionPolicy

    html = auditor_client.get(PAGE).content.decode()
    assert "Save retention" not in html and "Only the organization's owner" in html
    response = auditor_client.post(PAGE, {"days": "1", "legal_hold": "on"})
    assert response.status_code == 403
    assert not RetentionPolicy.objects.exists()


def test_the_retention_form_needs_the_csrf_token(owner, acme) -> None:
    from django.test import Client

    from integrity.models import RetentionPolicy

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(PAGE, {"days": "1"}).status_code == 403
    assert not RetentionPolicy.objects.exists()


def test_the_integrity_page_gives_times_in_the_viewers_zone_with_its_offset(auditor_client, acme) -> None:
    import re
    import zoneinfo

    from django.utils import timezone

    from integrity.models import TreeHead

    make_events(acme, 2)
    seal(acme.pk)
    head = TreeHead.objects.filter(organization_id=acme.pk).latest("tree_size")
    signed = timezone.datetime.fromtimestamp(head.timestamp_ms / 1000, tz=zoneinfo.ZoneInfo("Europe/Paris"))
    html = auditor_client.get(PAGE).content.decode()  # the auditor's zone is Europe/Paris
    shown = (
        signed.strftime("%Y-%m-%d %H:%M:%S ") + signed.strftime("%z")[:3] + ":" + signed.strftime("%z")[3:]
    )
    assert shown in html
    assert not re.search(r"\d\d:\d\d:\d\d UTC", html)  # never a local wall clock labelled UTC
