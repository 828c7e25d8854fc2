"""CreateExportJob, ListExportJobs and DeleteExportJob (reference §2.7), over HTTP and the SDK's shapes."""

from __future__ import annotations

import pytest

from audit.models import Event
from exports.models import ExportJob
from iam.models import Organization
from tests.api.conftest import ApiClient, api_key_for
from tests.factories import grant

pytestmark = pytest.mark.django_db

JOBS = "/audit-trail/v1alpha1/regions/fr-par/export-jobs"
BODY = {
    "name": "daily",
    "s3": {"bucket": "compliance", "region": "fr-par", "prefix": "trail/"},
    "tags": ["soc2"],
}


@pytest.fixture
def owner_api(owner, acme):
    return ApiClient(api_key_for(owner, acme)[1])


def _client(user, acme, *sets):
    grant(user, acme, *sets)
    return ApiClient(api_key_for(user, acme)[1])


def test_create_answers_the_job_and_is_audited(owner_api, acme, export_dir):
    response = owner_api.post(JOBS, BODY, content_type="application/json")
    assert response.status_code == 200
    job = response.json()
    assert job["name"] == "daily" and job["tags"] == ["soc2"] and job["organization_id"] == str(acme.pk)
    assert job["s3"] == {"bucket": "compliance", "region": "fr-par", "prefix": "trail", "project_id": None}
    assert job["last_run_at"] is None and job["last_status"] is None
    event = Event.objects.get(organization_id=acme.pk, method_name="CreateExportJob")
    assert event.status_code == 200 and event.resources[0]["id"] == job["id"]


def test_list_filters_orders_pages_and_counts(owner_api, acme, export_dir):
    for name, tags in [("b", ["x"]), ("a", ["x", "y"]), ("c", [])]:
        owner_api.post(JOBS, {**BODY, "name": name, "tags": tags}, content_type="application/json")
    body = owner_api.get(JOBS, {"order_by": "name_desc", "page_size": "2"}).json()
    assert [j["name"] for j in body["export_jobs"]] == ["c", "b"] and body["total_count"] == 3
    assert [
        j["name"]
        for j in owner_api.get(JOBS, {"order_by": "name_desc", "page_size": "2", "page": "2"}).json()[
            "export_jobs"
        ]
    ] == ["a"]
    assert [j["name"] for j in owner_api.get(JOBS, {"name": "b"}).json()["export_jobs"]] == ["b"]
    tagged = owner_api.get(f"{JOBS}?tags=x&tags=y").json()
    assert [j["name"] for j in tagged["export_jobs"]] == ["a"] and tagged["total_count"] == 1
    assert owner_api.get(JOBS.replace("fr-par", "nl-ams")).json()["total_count"] == 0


def test_delete_removes_the_job_and_is_audited(owner_api, acme, export_dir):
    job_id = owner_api.post(JOBS, BODY, content_type="application/json").json()["id"]
    assert owner_api.delete(f"{JOBS}/{job_id}").status_code == 204
    assert not ExportJob.objects.filter(pk=job_id).exists()
    assert (
        Event.objects.filter(organization_id=acme.pk, method_name="DeleteExportJob", status_code=200).count()
        == 1
    )
    assert owner_api.delete(f"{JOBS}/{job_id}").status_code == 404


def test_another_organizations_job_is_not_found(owner_api, outsider, export_dir):
    globex = Organization.objects.get(owner=outsider)
    theirs = ApiClient(api_key_for(outsider, globex)[1])
    job_id = theirs.post(JOBS, BODY, content_type="application/json").json()["id"]
    assert owner_api.delete(f"{JOBS}/{job_id}").status_code == 404
    assert owner_api.get(JOBS).json()["total_count"] == 0
    assert ExportJob.objects.filter(pk=job_id).exists()


def test_bad_bodies_get_invalid_arguments(owner_api, export_dir):
    missing = owner_api.post(JOBS, {"name": "x"}, content_type="application/json")
    assert missing.status_code == 400 and missing.json()["details"][0]["argument_name"] == "s3"
    bad = owner_api.post(
        JOBS, {"name": "x", "s3": {"bucket": "Not A Bucket!"}}, content_type="application/json"
    )
    assert bad.status_code == 400 and bad.json()["details"][0]["argument_name"] == "s3.bucket"


@pytest.mark.parametrize(
    ("sets", "may_list", "may_write"),
    [
        (("AuditTrailExportRead",), True, False),
        (("AuditTrailExportDelete",), True, True),
        (("AuditTrailFullAccess",), True, True),
        (("OrganizationManager",), True, True),
        (("AuditTrailReadOnly",), False, False),
    ],
)
def test_permissions_as_scaleway(member_without_rights, acme, export_dir, sets, may_list, may_write):
    api = _client(member_without_rights, acme, *sets)
    assert api.get(JOBS).status_code == (200 if may_list else 403)
    created = api.post(JOBS, BODY, content_type="application/json")
    assert created.status_code == (200 if may_write else 403)
    if not may_write:
        assert Event.objects.filter(method_name="CreateExportJob", status_code=403).exists()


def test_an_empty_tags_filter_is_no_filter(owner_api, export_dir):
    """Go clients send every parameter, empty ones included (`tags=`)."""
    owner_api.post(JOBS, BODY, content_type="application/json")
    response = owner_api.get(f"{JOBS}?tags=&name=")
    assert response.status_code == 200 and response.json()["total_count"] == 1


def test_the_bucket_project_is_one_of_the_organizations(owner_api, acme, outsider, export_dir):
    from tests.factories import ProjectFactory

    theirs = ProjectFactory(organization=Organization.objects.get(owner=outsider))
    refused = owner_api.post(
        JOBS, {**BODY, "s3": {"bucket": "b-1", "project_id": str(theirs.pk)}}, content_type="application/json"
    )
    assert refused.status_code == 400 and refused.json()["details"][0]["argument_name"] == "s3.project_id"
    ours = ProjectFactory(organization=acme)
    created = owner_api.post(
        JOBS, {**BODY, "s3": {"bucket": "b-1", "project_id": str(ours.pk)}}, content_type="application/json"
    )
    assert created.status_code == 200 and created.json()["s3"]["project_id"] == str(ours.pk)
