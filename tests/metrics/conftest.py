from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import ApiClient, api_key_for
from tests.factories import ApplicationFactory, grant

TOKEN = "metrics-test-token-0123456789"


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def writer_api(acme):
    application = ApplicationFactory(organization=acme, name="log-shipper")
    grant(application, acme, "AuditTrailEventsWriter")
    return ApiClient(api_key_for(application, acme)[1])


@pytest.fixture
def member_api(member_without_rights, acme):
    return ApiClient(api_key_for(member_without_rights, acme)[1])


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def scrape(client, token: str = TOKEN) -> dict:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    return samples(response.content.decode())
