"""Inviting an address tells the inviting organization nothing about the account behind it:
the trail keeps what the inviter typed and the invitation's own id, and every answer is the same
whether the address already has an account (in another organization) or not."""

from __future__ import annotations

import json

import pytest
from django.contrib.messages import get_messages

from audit.models import Event
from audit.services import Actor
from iam import services
from iam.models import Invitation
from tests.factories import UserFactory
from tests.iam.conftest import client_for

STRANGER = "stranger@elsewhere.test"
NEWCOMER = "newcomer@elsewhere.test"
TIMES = ("created_at", "updated_at", "deleted_at")


@pytest.fixture
def stranger(db):
    """An account of another organization, created long ago: nothing of it may reach Acme's trail."""
    return UserFactory(email=STRANGER, date_joined="2019-03-04T05:06:07Z")


def _recorded(organization, method: str, invitation: Invitation) -> str:
    """The event's resources and body as JSON, with the invitation's own values made generic."""
    event = Event.objects.get(organization_id=organization.pk, method_name=method)
    shape = {
        "resources": [{k: v for k, v in r.items() if k not in TIMES} for r in event.resources],
        "request_body": event.request_body,
        "principal": (event.principal_type, event.principal_id),
        "status": event.status_code,
    }
    text = json.dumps(shape, sort_keys=True, default=str)
    for value, generic in [
        (invitation.pk, "<invitation>"),
        (organization.pk, "<org>"),
        (invitation.email, "<email>"),
    ]:
        text = text.replace(str(value), generic)
    return text


def _invite(organization, owner, email: str) -> Invitation:
    invitation, _ = services.user_invite(
        actor=Actor.of(owner), organization=organization, email=email, invited_by=owner
    )
    return invitation


@pytest.mark.django_db
def test_inviting_an_existing_account_records_nothing_about_that_account(acme, owner, stranger):
    invitation = _invite(acme, owner, STRANGER)

    event = Event.objects.get(organization_id=acme.pk, method_name="CreateUser")
    stored = json.dumps([event.resources, event.request_body], default=str)
    assert str(stranger.pk) not in stored
    assert "2019-03-04" not in stored
    assert event.resources[0]["id"] == str(invitation.pk)
    assert event.request_body == {"email": STRANGER, "organization_id": str(acme.pk)}


@pytest.mark.django_db
@pytest.mark.parametrize("close", ["reject", "cancel", "expire"])
def test_every_step_of_an_invitation_records_the_same_whether_the_account_exists_or_not(
    acme, owner, stranger, close
):
    # The same inviter, in two organizations: one address has an account, the other has none.
    existing = _invite(acme, owner, STRANGER)
    existing_created = _recorded(acme, "CreateUser", existing)
    _close(existing, owner, close)
    existing_deleted = _recorded(acme, "DeleteUser", existing)

    other = _other_organization(owner)
    fresh = _invite(other, owner, NEWCOMER)
    fresh_created = _recorded(other, "CreateUser", fresh)
    _close(fresh, owner, close)
    fresh_deleted = _recorded(other, "DeleteUser", fresh)

    assert existing_created == fresh_created
    assert existing_deleted == fresh_deleted


def _other_organization(owner):
    return services.organization_create(name="Acme Labs", owner=owner)


def _close(invitation: Invitation, owner, how: str) -> None:
    if how == "reject":
        services.invitation_reject(invitation=invitation)
    elif how == "cancel":
        services.invitation_cancel(actor=Actor.of(owner), invitation=invitation)
    else:
        Invitation.objects.filter(pk=invitation.pk).update(expires_at="2000-01-01T00:00:00Z")
        services.invitations_expire()


@pytest.mark.django_db
@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["form", "htmx"])
def test_the_console_answers_an_invitation_the_same_whether_the_account_exists_or_not(
    owner, acme, stranger, headers
):
    def invite(email: str):
        response = client_for(owner).post("/iam/users/invite/", {"email": email}, headers=headers)
        messages = [str(m).replace(email, "<email>") for m in get_messages(response.wsgi_request)]
        return response.status_code, response.get("Location"), response.get("HX-Trigger"), messages

    assert invite(STRANGER) == invite(NEWCOMER)
