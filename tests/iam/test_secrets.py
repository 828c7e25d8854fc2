"""After creation, an API secret key exists only in the one response that reveals it."""

from __future__ import annotations

import logging
import re

import pytest
from django.db import connection

from audit.models import Event


def _database_text() -> str:
    """Every row of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(include_views=False):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


@pytest.mark.django_db
def test_the_secret_key_appears_only_in_the_one_time_reveal(owner_client, acme, caplog):
    caplog.set_level(logging.DEBUG)
    reveal = owner_client.post(
        "/iam/api-keys/create/", {"bearer": "me", "description": "deploy"}, follow=True
    )
    secret = re.search(r'id="secret-key"[^>]*>([0-9a-f-]{36})<', reveal.content.decode()).group(1)
    access_key = re.search(r'id="access-key">(SCW[A-Z0-9]{17})<', reveal.content.decode()).group(1)

    responses = [
        owner_client.get(url) for url in ("/iam/api-keys/", "/iam/logs/", "/iam/users/", "/iam/applications/")
    ]
    log = Event.objects.get(method_name="CreateAPIKey")
    responses.append(owner_client.get(f"/iam/logs/{log.pk}/"))
    responses.append(owner_client.post(f"/iam/api-keys/{access_key}/delete/", follow=True))

    for response in responses:
        assert secret not in response.content.decode()
        assert secret not in str(response.headers)
    assert secret not in _database_text()
    assert secret.replace("-", "") not in _database_text()
    assert secret not in caplog.text
    for event in Event.objects.all():
        assert secret not in repr(event.__dict__)
    assert access_key in _database_text()  # the search itself works
