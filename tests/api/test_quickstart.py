"""Acceptance: Scaleway's Audit Trail API quickstart (developers/api/audit-trail), run as written with
real `curl` against a live server, the documentation's host replaced by the server's and its
placeholder ids by real ones.

1. (optional) export the key and region; 2. an owner creates the IAM policy granting a user
AuditTrailReadOnly; then, as that user's key: list the permission sets, 3. list the products that
have events, 4. list the events. Before step 2 the same user's key is refused the trail.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from audit.models import Event
from iam.models import Policy
from tests.api.conftest import api_key_for, make_events

pytestmark = pytest.mark.django_db(transaction=True)

PAGE_ORGANIZATION = "123e4567-e89b-12d3-a456-426614174000"
PAGE_USER = "987f6543-21ba-43dc-b678-567812345678"

# Step 2, character for character as the page prints it (only the host and ids are replaced).
CREATE_POLICY = """curl -X POST \\
-H "Content-Type: application/json" \\
-H "X-Auth-Token: $SCW_SECRET_KEY" https://api.scaleway.com/iam/v1alpha1/policies \\
-d '{
"name": "policy-audit-trail",
"description": "This policy grants read access to Audit Trail in my Organization to the user matching the userID defined below",
"organization_id": "123e4567-e89b-12d3-a456-426614174000",
"rules": [
{
"permission_set_names": [
"AuditTrailReadOnly"
],
"organization_id": "123e4567-e89b-12d3-a456-426614174000"
}
],
"user_id": "987f6543-21ba-43dc-b678-567812345678"
}'"""
# The page points at the IAM API to find the permission set names, and steps 3 and 4.
LIST_PERMISSION_SETS = """curl -X GET \\
-H "Content-Type: application/json" \\
-H "X-Auth-Token: $SCW_SECRET_KEY" \\
"https://api.scaleway.com/iam/v1alpha1/permission-sets?organization_id=123e4567-e89b-12d3-a456-426614174000" """
LIST_PRODUCTS = """curl -X GET \\
-H "Content-Type: application/json" \\
-H "X-Auth-Token: $SCW_SECRET_KEY" \\
"https://api.scaleway.com/audit-trail/v1alpha1/regions/$REGION/products?organization_id=123e4567-e89b-12d3-a456-426614174000" """
LIST_EVENTS = """curl -X GET \\
-H "Content-Type: application/json" \\
-H "X-Auth-Token: $SCW_SECRET_KEY" \\
"https://api.scaleway.com/audit-trail/v1alpha1/regions/$REGION/events?organization_id=123e4567-e89b-12d3-a456-426614174000" """


def run(command: str, *, server: str, organization: str, user: str, key: tuple[str, str]) -> tuple[int, Any]:
    """The command as the page writes it, in a shell with step 1's variables; (HTTP status, JSON)."""
    command = (
        command.replace("https://api.scaleway.com", server)
        .replace(PAGE_ORGANIZATION, organization)
        .replace(PAGE_USER, user)
    )
    env = {
        **os.environ,
        "ACCESS_KEY": key[0],
        "SECRET_KEY": key[1],
        "SCW_SECRET_KEY": key[1],  # the name step 2 uses
        "REGION": "fr-par",
    }
    done = subprocess.run(
        ["bash", "-c", command.replace("curl ", "curl -sS -w '\\n%{http_code}' ", 1)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body) if body.strip() else None


def test_the_quickstart_runs_as_written(live_server, acme, owner, member_without_rights):
    make_events(acme, 3)  # "make sure that you have created Scaleway resources in the targeted region"
    user = member_without_rights
    user_key = api_key_for(user, acme)
    ids = {"server": live_server.url, "organization": str(acme.pk), "user": str(user.pk)}

    # Before the policy: the user's key may not read the trail, and the refusal is recorded.
    status, body = run(LIST_EVENTS, key=user_key, **ids)
    assert (status, body["type"]) == (403, "permissions_denied")
    assert Event.objects.filter(organization_id=acme.pk, principal_id=user.pk, status_code=403).exists()

    # Step 2, with the owner's key.
    status, policy = run(CREATE_POLICY, key=api_key_for(owner, acme), **ids)
    assert status == 200, policy
    assert (policy["name"], policy["user_id"], policy["organization_id"]) == (
        "policy-audit-trail",
        str(user.pk),
        str(acme.pk),
    )
    assert (policy["nb_rules"], policy["nb_permission_sets"], policy["editable"]) == (1, 1, True)
    stored = Policy.objects.get(pk=policy["id"])
    assert [r.permission_set_names for r in stored.rules.all()] == [["AuditTrailReadOnly"]]
    created = Event.objects.get(organization_id=acme.pk, method_name="CreatePolicy", principal_id=owner.pk)
    assert created.request_body["user_id"] == str(user.pk)

    # The granted user's key: the permission sets the page points at, then steps 3 and 4.
    status, sets = run(LIST_PERMISSION_SETS, key=user_key, **ids)
    assert status == 200
    audit_set = next(s for s in sets["permission_sets"] if s["name"] == "AuditTrailReadOnly")
    assert audit_set["scope_type"] == "organization"
    assert sets["total_count"] >= len(sets["permission_sets"])

    status, products = run(LIST_PRODUCTS, key=user_key, **ids)
    assert status == 200
    assert "secret-manager" in {p["name"] for p in products["products"]}

    status, events = run(LIST_EVENTS, key=user_key, **ids)
    assert status == 200
    methods = {e["method_name"] for e in events["events"]}
    assert "CreateSecret" in methods
    assert all(e["organization_id"] == str(acme.pk) for e in events["events"])
