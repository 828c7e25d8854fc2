"""What health checks and uptime monitors call: `HEAD /` and `/health/`."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from core import health


@pytest.mark.django_db
def test_head_on_the_home_page_answers_as_get_does(client):
    head, get = client.head("/"), client.get("/")
    assert head.status_code == get.status_code == 302  # to the sign-in page, not 405
    assert head["Location"] == get["Location"]
    assert head.content == b""


@pytest.mark.django_db
def test_health_answers_ok_to_anyone_without_a_session(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert "sessionid" not in response.cookies
    head = client.head("/health/")
    assert (head.status_code, head.content) == (200, b"")


def test_health_answers_503_when_the_database_does_not(client, monkeypatch, caplog):
    class Down:
        def cursor(self):
            raise OperationalError("connection refused: secret-host:5432")

    monkeypatch.setattr(health, "connection", Down())
    response = client.get("/health/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json() == {"status": "unavailable"}  # the cause is logged, never shown
    assert "secret-host" in caplog.text


def test_health_refuses_writes(client):
    assert client.post("/health/").status_code == 405
