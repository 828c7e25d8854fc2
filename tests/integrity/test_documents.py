"""Sealing hashes events from database rows (`integrity.documents`), not model instances: the bytes
must be exactly the canonical serialization that docs/integrity.md prints and the verifier uses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from audit.models import Event
from integrity import merkle
from integrity.canonical import canonical_bytes
from integrity.documents import COLUMNS, fetch_rows, leaf_data
from integrity.models import Leaf
from integrity.services import event_document, event_leaf_hash
from tests.integrity.conftest import make_events

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
optional_uuid = st.none() | st.uuids()
events = st.builds(
    Event,
    id=st.uuids(),
    recorded_at=st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    ),
    organization_id=st.uuids(),
    project_id=optional_uuid,
    locality=st.text(max_size=16),
    principal_id=optional_uuid,
    principal_type=st.sampled_from(["user", "application", "system", "anonymous"]),
    principal_name=st.text(max_size=20),
    source_ip=st.none() | st.sampled_from(["", "10.0.0.1", "2001:db8::1"]),
    user_agent=st.text(max_size=20),
    product_name=st.text(max_size=10),
    service_name=st.text(max_size=10),
    method_name=st.text(max_size=10),
    resources=st.none() | st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=3),
    request_id=st.text(max_size=10),
    request_body=st.none() | st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    status_code=st.integers(min_value=0, max_value=999),
)


@settings(max_examples=300)
@given(events)
def test_a_rows_leaf_data_is_the_events_canonical_serialization(event: Event) -> None:
    row = tuple(getattr(event, column) for column in COLUMNS)
    assert leaf_data(row) == canonical_bytes(event_document(event))


def test_rows_read_from_the_database_give_the_same_bytes_as_the_stored_events(
    acme, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        stored = make_events(acme, 6)
    rows = fetch_rows(acme.pk, [e.id for e in stored] + [uuid.uuid4()], unsealed=False)
    assert len(rows) == 6
    for row in rows:
        event = Event.objects.get(organization_id=acme.pk, id=row[0])
        assert leaf_data(row) == canonical_bytes(event_document(event))
        # What sealing stored is the hash of those bytes.
        assert bytes(Leaf.objects.get(event_id=event.id).hash) == event_leaf_hash(event)
        assert event_leaf_hash(event) == merkle.leaf_hash(leaf_data(row))
    assert fetch_rows(acme.pk, [e.id for e in stored], unsealed=True) == []
