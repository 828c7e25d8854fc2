"""Export fixtures: a local export directory per test, and one real SeaweedFS for the session."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest

from audit.services import Actor, build_event, record_many
from tests.exports import seaweedfs


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.EXPORT_LOCAL_DIR = str(tmp_path / "exports")
    settings.EXPORT_S3_ENDPOINTS = {}
    return tmp_path / "exports"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = seaweedfs.start(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server):
    name = f"exports-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


ACTOR = Actor(
    principal_type="user", principal_id=uuid.uuid4(), principal_name="x@acme.test", source_ip="198.51.100.7"
)


def events_on(organization, day: date, n: int, *, region: str = "fr-par", hour: int = 10):
    """n events recorded on `day` (UTC), a minute apart from `hour`:00."""
    start = datetime.combine(day, time(hour), tzinfo=UTC)
    return record_many(
        [
            build_event(
                organization_id=organization.pk,
                actor=ACTOR,
                product_name="secret-manager",
                service_name="scaleway.secret_manager.v1beta1.Api",
                method_name="CreateSecret",
                locality=region,
                recorded_at=start + timedelta(minutes=i),
            )
            for i in range(n)
        ]
    )


def read_ndjson_gz(body: bytes) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
