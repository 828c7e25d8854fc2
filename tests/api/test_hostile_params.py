"""Every parameter the API parses is either understood or refused with invalid_arguments, never a 500:
timestamps (any RFC 3339 offset, the years 1 and 9999), integers (bounded), strings (bounded, no
NUL), UUIDs (canonical), on every endpoint of Audit Trail, IAM and alerting."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from alerts.models import CustomAlertRule
from audit.models import Event
from iam.models import APIKey
from tests.api.conftest import ApiClient, api_key_for, make_events
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

REGION = "/audit-trail/v1alpha1/regions/fr-par"
EVENTS = f"{REGION}/events"
CUSTOM = f"{REGION}/custom-alert-rules"
LOGS = "/iam/v1alpha1/logs"
KEYS = "/iam/v1alpha1/api-keys"

# Query parameters of every GET endpoint, by kind.
ENDPOINTS = {
    EVENTS: {
        "datetime": ["recorded_after", "recorded_before"],
        "uuid": ["organization_id", "project_id", "principal_id"],
        "integer": ["status", "page_size"],
        "string": ["method_name", "product_name", "service_name", "resource_id", "page_token"],
    },
    f"{REGION}/authentication-events": {
        "datetime": ["recorded_after", "recorded_before"],
        "uuid": ["organization_id"],
        "integer": ["page_size"],
    },
    f"{REGION}/combined-events": {
        "datetime": ["recorded_after", "recorded_before"],
        "uuid": ["organization_id", "project_id"],
        "integer": ["page_size"],
    },
    f"{REGION}/products": {"uuid": ["organization_id"]},
    LOGS: {
        "datetime": ["created_after", "created_before"],
        "uuid": ["organization_id"],
        "integer": ["page", "page_size"],
        "string": ["search"],
    },
    KEYS: {
        "uuid": ["organization_id", "user_id", "application_id", "bearer_id"],
        "integer": ["page", "page_size"],
        "string": ["access_key", "description"],
    },
    f"{REGION}/alert-rules": {"uuid": ["organization_id"], "integer": ["page", "page_size"]},
    CUSTOM: {"uuid": ["organization_id"], "integer": ["page", "page_size"]},
}
CASES = [
    (path, kind, name) for path, kinds in ENDPOINTS.items() for kind, names in kinds.items() for name in names
]

# Well-formed timestamps at the edges: offsets PostgreSQL cannot store, instants before year 1 or
# after 9999 once in UTC, leap seconds, nanoseconds, and the clients' own spellings.
EDGE_TIMESTAMPS = [
    "2026-11-29T10:00:00+21:00",
    "2026-11-29T10:00:00-19:00",
    "2026-11-29T10:00:00+23:59",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00-23:59",
    "0000-01-01T00:00:00Z",
    "0000-12-31T23:00:00-05:00",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-05:00",
    "2016-12-31T23:59:60Z",
    "2026-11-29T10:00:00.123456789Z",
    "2026-11-29 10:00:00+00:00",
    "2026-11-29t10:00:00z",
]
BAD_TIMESTAMPS = [
    "2026-02-30T00:00:00Z",
    "2026-11-29T24:00:00Z",
    "2026-11-29T10:00:00+24:00",
    "2026-11-29T10:00:00+05:60",
    "0000-02-30T00:00:00Z",
    "2026-11-29",
    "2026-11-29T10:00:00Z\n",
    "2026-11-29T10:00:00." + "9" * 60 + "Z",
    "yesterday",
]
BAD_INTEGERS = ["-1", "1.5", "1e3", "0x10", " 5", "99999999999999999999999", "5\n"]
BAD_UUIDS = [
    "nope",
    "e3e70682c2091caca29f6fbed82c07cd",
    "{e3e70682-c209-1cac-a29f-6fbed82c07cd}",
    "urn:uuid:e3e70682-c209-1cac-a29f-6fbed82c07cd",
    " e3e70682-c209-1cac-a29f-6fbed82c07cd",
]
BAD_STRINGS = ["a\x00b", "x" * 1001]


@pytest.fixture
def api(owner, acme):
    return ApiClient(api_key_for(owner, acme)[1])


def refused(response, name: str) -> bool:
    body = response.json()
    return (
        response.status_code == 400
        and body["type"] == "invalid_arguments"
        and name in [d["argument_name"] for d in body["details"]]
    )


@pytest.mark.parametrize(("path", "kind", "name"), [c for c in CASES if c[1] == "datetime"])
def test_every_well_formed_timestamp_is_understood_whatever_its_offset_or_year(api, path, kind, name):
    for value in EDGE_TIMESTAMPS:
        response = api.get(path, {name: value})
        assert response.status_code == 200, (value, response.json())


@pytest.mark.parametrize(("path", "kind", "name"), CASES)
def test_every_malformed_parameter_is_refused_by_name(api, path, kind, name):
    bad = {
        "datetime": BAD_TIMESTAMPS,
        "integer": BAD_INTEGERS,
        "uuid": BAD_UUIDS,
        "string": BAD_STRINGS,
    }[kind]
    for value in bad:
        assert refused(api.get(path, {name: value}), name), value
    assert refused(api.get(path, {name: ["1", "2"]}), name)  # given twice


def test_an_offset_beyond_fifteen_hours_filters_at_the_right_instant(api, acme):
    first, second = make_events(
        acme, 2, start=datetime(2026, 11, 28, 12, tzinfo=UTC), step=timedelta(hours=2)
    )
    # 10:00+21:00 is 13:00 the day before, in UTC: between the two events.
    response = api.get(
        EVENTS,
        {"recorded_after": "2026-11-28T00:00:00Z", "recorded_before": "2026-11-29T10:00:00+21:00"},
    )
    assert [e["id"] for e in response.json()["events"]] == [str(first.id)]
    since = api.get(
        EVENTS,
        {
            "recorded_after": "2026-11-27T18:00:00-19:00",  # 13:00 UTC
            "recorded_before": "9999-12-31T23:59:59-05:00",
            "product_name": "secret-manager",
        },
    )
    assert [e["id"] for e in since.json()["events"]] == [str(second.id)]


def test_iam_logs_read_an_offset_beyond_fifteen_hours(api, acme, owner):
    response = api.get(LOGS, {"created_after": "2026-11-29T10:00:00-19:00"})
    assert response.status_code == 200
    everything = api.get(
        LOGS, {"created_after": "0001-01-01T00:00:00+01:00", "created_before": "9999-12-31T23:59:59-23:59"}
    )
    assert everything.json()["total_count"] == Event.objects.filter(method_name="CreateAPIKey").count() > 0


def test_parse_timestamp_converts_to_utc_and_clamps_at_the_edges_of_time():
    from api.http import parse_timestamp

    assert parse_timestamp("2026-11-29T10:00:00+21:00") == datetime(2026, 11, 28, 13, tzinfo=UTC)
    assert parse_timestamp("2026-11-29 10:00:00") == datetime(2026, 11, 29, 10, tzinfo=UTC)
    assert parse_timestamp("0001-01-01T00:00:00+01:00") == datetime.min.replace(tzinfo=UTC)
    assert parse_timestamp("9999-12-31T23:59:59-05:00") == datetime.max.replace(tzinfo=UTC)
    assert parse_timestamp("2016-12-31T23:59:60Z") == datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    # RFC 3339's year 0, which datetime lacks: before year 1 clamps, the rest is year 1 in UTC.
    assert parse_timestamp("0000-06-01T00:00:00Z") == datetime.min.replace(tzinfo=UTC)
    assert parse_timestamp("0000-12-31T23:00:00-05:00") == datetime(1, 1, 1, 4, tzinfo=UTC)


def test_a_forged_page_token_is_refused_not_a_server_error(api, acme):
    make_events(acme, 3)
    token = api.get(EVENTS, {"page_size": 1}).json()["next_page_token"]
    cursor, _, _, digest = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for window in (["2026-11-29T10:00:00+21:00", "x"], [1, 2], ["0001-01-01", None]):
        forged = base64.urlsafe_b64encode(json.dumps([cursor, *window, digest]).encode()).decode()
        response = api.get(EVENTS, {"page_size": 1, "page_token": forged})
        assert refused(response, "page_token"), window
    at, pk, newer = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for moment in ("2026-11-29T10:00:00+21:00", "0001-01-01T00:00:00+01:00"):
        raw = json.dumps([moment, pk, newer]).encode()
        bad_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        _, after, before, _ = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        forged = base64.urlsafe_b64encode(json.dumps([bad_cursor, after, before, digest]).encode()).decode()
        assert api.get(EVENTS, {"page_size": 1, "page_token": forged}).status_code in (200, 400)


def test_booleans_are_read_as_gos_strconv_parsebool_reads_them(api):
    for value in ("true", "True", "TRUE", "t", "T", "1", "false", "False", "0", "f"):
        assert api.get(KEYS, {"editable": value}).status_code == 200, value
    for value in ("yes", "no", "tRuE", "2"):
        assert refused(api.get(KEYS, {"expired": value}), "expired"), value


def test_enums_take_their_proto_default_and_no_other_unknown_value(api):
    assert api.get(EVENTS, {"resource_type": "unknown_type"}).status_code == 200
    assert (
        api.get(LOGS, {"action": "unknown_action", "resource_type": "unknown_resource_type"}).status_code
        == 200
    )
    assert api.get(KEYS, {"bearer_type": "unknown_bearer_type"}).status_code == 200
    assert api.get(CUSTOM, {"status": "unknown_status"}).status_code == 200
    assert refused(api.get(LOGS, {"action": "unknown_whatever"}), "action")
    assert refused(api.get(CUSTOM, {"status": "unknown_severity"}), "status")
    assert refused(api.get(KEYS, {"order_by": "unknown_order"}), "order_by")


def test_empty_values_mean_no_filter_as_go_clients_send_them(api):
    for path, kinds in ENDPOINTS.items():
        names = [name for names in kinds.values() for name in names]
        response = api.get(path, dict.fromkeys(names, ""))
        assert response.status_code == 200, (path, response.json())


def test_an_api_key_can_expire_at_any_offset_and_is_stored_in_utc(api, acme):
    application = ApplicationFactory(organization=acme)
    body = {"application_id": str(application.pk), "expires_at": "2099-11-29T10:00:00+21:00"}
    response = api.post(KEYS, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.json()
    assert response.json()["expires_at"] == "2099-11-28T13:00:00.000000Z"
    far = {"application_id": str(application.pk), "expires_at": "9999-12-31T23:59:59-05:00"}
    assert api.post(KEYS, json.dumps(far), content_type="application/json").status_code == 200
    key = APIKey.objects.get(access_key=response.json()["access_key"])
    assert key.expires_at == datetime(2099, 11, 28, 13, tzinfo=UTC)


def send(api, method, path, body):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return api.generic(method, path, data, content_type="application/json; charset=utf-8")


def test_json_bodies_are_typed_and_null_means_absent(api, acme):
    rule = {"name": "keys", "query": "true", "occurrences": 3.0, "organization_id": None, "description": None}
    created = send(api, "POST", CUSTOM, rule)
    assert created.status_code == 200, created.json()
    assert created.json()["occurrences"] == 3
    for name, value in [
        ("occurrences", "3"),
        ("occurrences", True),
        ("occurrences", 3.5),
        ("severity", None),
        ("severity", ""),
        ("evaluation_window", ""),
        ("evaluation_window", "0300s"),
        ("organization_id", "E3E70682C2091CACA29F6FBED82C07CD"),
    ]:
        response = send(api, "POST", CUSTOM, {**rule, "name": "other", name: value})
        assert refused(response, name), (name, value)
    assert refused(
        send(
            api, "POST", f"{REGION}/enable-alert-rules", {"alert_rule_ids": ["{" + str(uuid.uuid4()) + "}"]}
        ),
        "alert_rule_ids[0]",
    )
    for method, path in [
        ("PATCH", f"{REGION}/alert-rules"),
        ("PUT", CUSTOM),
        ("POST", f"{REGION}/enable-alert-rules"),
    ]:
        assert refused(send(api, method, path, "null"), "body"), path
        assert send(api, method, path, b"").status_code == 200, path  # no body at all: {}
    assert CustomAlertRule.objects.count() == 1


def test_a_rule_name_is_one_line_of_storable_text(api, acme):
    for name in ("two\nlines", "tab\there", "nul\x00", "bell\x07", '"\\ud800"'):
        if name.startswith('"'):
            body = '{"name": ' + name + ', "query": "true", "occurrences": 1}'
        else:
            body = {"name": name, "query": "true", "occurrences": 1}
        assert refused(send(api, "POST", CUSTOM, body), "name"), name
    assert not CustomAlertRule.objects.exists()
    assert refused(send(api, "POST", CUSTOM, {"name": "   ", "query": "true", "occurrences": 1}), "name")


def test_a_refused_call_with_a_nul_in_its_path_is_recorded(auditor, acme):
    auditor_api = ApiClient(api_key_for(auditor, acme)[1])
    response = auditor_api.delete(f"{CUSTOM}/%00abc")
    assert response.status_code == 403
    refusal = Event.objects.get(method_name="DeleteCustomAlertRule", status_code=403)
    assert refusal.resources[0]["id"] == "abc"


def test_a_refused_body_with_a_lone_surrogate_is_recorded(auditor, acme):
    auditor_api = ApiClient(api_key_for(auditor, acme)[1])
    response = send(auditor_api, "POST", CUSTOM, '{"name": "\\ud800", "query": "true", "occurrences": 1}')
    assert response.status_code == 403
    assert Event.objects.get(method_name="CreateCustomAlertRule", status_code=403).request_body["name"] == "?"


def test_the_default_window_before_year_one_stops_at_year_one(api, acme):
    response = api.get(EVENTS, {"recorded_before": "0001-01-01T00:30:00Z"})
    assert response.status_code == 200
    assert response.json()["events"] == []
