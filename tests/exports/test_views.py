"""The Exports tab: jobs listed, created and deleted, and "Download this view" streamed."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone

from audit.models import Event
from exports import services
from exports.models import ExportJob
from tests.api.conftest import make_events
from tests.factories import grant

pytestmark = pytest.mark.django_db

TAB = "/audit-trail/exports/"
DOWNLOAD = "/audit-trail/exports/download/"
FORM = {"name": "daily", "bucket": "compliance", "key_prefix": "trail", "s3_region": "fr-par"}


def _body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def test_the_tab_lists_jobs_with_their_status_and_errors(owner_client, acme, export_dir):
    job = services.export_job_create(
        actor=services.Actor.system(),
        organization=acme,
        region="fr-par",
        name="nightly",
        bucket="b-1",
        s3_region="fr-par",
    )
    ExportJob.objects.filter(pk=job.pk).update(
        last_status="failure", last_message="The bucket b-1 does not exist.", last_run_at=timezone.now()
    )
    page = owner_client.get(TAB, {"region": "fr-par"}).content.decode()
    assert "nightly" in page and "Failure" in page and "The bucket b-1 does not exist." in page
    assert 'aria-current="page">Exports' in page


def test_creating_a_job_from_the_tab_runs_it_and_is_audited(
    owner_client, acme, export_dir, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"{TAB}?region=fr-par", FORM)
    assert response.status_code == 302
    job = ExportJob.objects.get(organization=acme)
    assert job.last_status == "success"  # the first run ran (immediate task backend)
    assert Event.objects.filter(organization_id=acme.pk, method_name="CreateExportJob").exists()
    assert "Success" in owner_client.get(TAB).content.decode()


def test_a_bad_bucket_is_a_form_error(owner_client, acme, export_dir):
    response = owner_client.post(f"{TAB}?region=fr-par", {**FORM, "bucket": "Bad Bucket"})
    assert response.status_code == 200
    assert "A bucket name is 3 to 63 lowercase letters" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_readers_cannot_create_or_delete(member_without_rights, acme, export_dir):
    grant(member_without_rights, acme, "AuditTrailExportRead")
    client = Client()
    client.force_login(member_without_rights)
    assert client.get(TAB).status_code == 200
    assert client.post(TAB, FORM).status_code == 403
    job = services.export_job_create(
        actor=services.Actor.system(),
        organization=acme,
        region="fr-par",
        name="n",
        bucket="b-1",
        s3_region="fr-par",
    )
    assert client.post(f"{TAB}{job.pk}/delete/").status_code == 403
    assert ExportJob.objects.filter(pk=job.pk).exists()


def test_delete_needs_csrf(owner, acme, export_dir):
    job = services.export_job_create(
        actor=services.Actor.system(),
        organization=acme,
        region="fr-par",
        name="n",
        bucket="b-1",
        s3_region="fr-par",
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(f"{TAB}{job.pk}/delete/").status_code == 403
    assert ExportJob.objects.filter(pk=job.pk).exists()


def test_the_csv_download_is_the_filtered_view_with_offsets_and_names(owner_client, owner, acme, settings):
    make_events(
        acme,
        3,
        method_name="CreateSecret",
        actor=services.Actor(principal_type="user", principal_id=owner.pk, principal_name="old"),
    )
    make_events(acme, 2, method_name="DeleteSecret")
    response = owner_client.get(
        DOWNLOAD, {"region": "fr-par", "range": "24h", "method": "CreateSecret", "format": "csv"}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert len(rows) == 3
    assert {r["method_name"] for r in rows} == {"CreateSecret"}
    assert {r["principal"] for r in rows} == {owner.email}
    assert all(r["recorded_at"][-6] in "+-" for r in rows)  # ISO 8601 with the offset
    assert rows[0]["recorded_at"] > rows[-1]["recorded_at"]  # newest first, as on screen
    assert Event.objects.filter(organization_id=acme.pk, method_name="DownloadEvents").exists()


def test_a_removed_principal_downloads_as_unknown(owner_client, acme):
    make_events(acme, 1)  # a principal id that is nobody in the organization
    rows = list(
        csv.DictReader(io.StringIO(_body(owner_client.get(DOWNLOAD, {"range": "24h", "format": "csv"}))))
    )
    assert [r["principal"] for r in rows if r["method_name"] == "CreateSecret"] == ["Unknown"]


def test_the_row_limit_is_said_in_the_file(owner_client, acme, settings):
    settings.EXPORT_DOWNLOAD_MAX_ROWS = 2
    make_events(acme, 5)
    text = _body(owner_client.get(DOWNLOAD, {"range": "24h", "format": "csv"}))
    lines = text.strip().splitlines()
    assert len(lines) == 1 + 2 + 1
    assert lines[-1].startswith("# Truncated: this download stops at 2 rows")
    ndjson = _body(owner_client.get(DOWNLOAD, {"range": "24h", "format": "ndjson"})).strip().splitlines()
    assert len(ndjson) == 3 and json.loads(ndjson[-1])["truncated"] is True
    assert "id" in json.loads(ndjson[0]) and "principal_name" in json.loads(ndjson[0])


def test_another_organizations_events_are_never_downloaded(owner_client, outsider, acme):
    from iam.models import Organization

    make_events(Organization.objects.get(owner=outsider), 3)
    text = _body(owner_client.get(DOWNLOAD, {"range": "24h", "format": "ndjson"}))
    assert all(json.loads(line)["organization_id"] == str(acme.pk) for line in text.splitlines() if line)


def test_bad_filters_get_a_clear_answer(owner_client):
    response = owner_client.get(DOWNLOAD, {"ip": "not-an-ip", "format": "csv"})
    assert response.status_code == 400 and "cannot be downloaded" in response.content.decode()
    assert owner_client.get(DOWNLOAD, {"format": "xlsx"}).status_code == 400


def test_formula_cells_are_neutralised(owner_client, acme):
    make_events(acme, 1, method_name="=HYPERLINK(1)")
    rows = list(
        csv.DictReader(io.StringIO(_body(owner_client.get(DOWNLOAD, {"range": "24h", "format": "csv"}))))
    )
    assert rows[0]["method_name"] == "'=HYPERLINK(1)"


def test_events_older_than_the_window_are_not_downloaded(owner_client, acme):
    make_events(acme, 2, start=timezone.now() - timedelta(days=3))
    rows = list(
        csv.DictReader(io.StringIO(_body(owner_client.get(DOWNLOAD, {"range": "24h", "format": "csv"}))))
    )
    assert rows == []


def test_head_of_a_download_answers_its_headers_and_records_no_download(owner_client, acme):
    make_events(acme, 2, method_name="CreateSecret")
    response = owner_client.head(DOWNLOAD, {"region": "fr-par", "range": "24h", "format": "ndjson"})
    assert response.status_code == 200 and response.content == b""
    assert "attachment;" in response["Content-Disposition"] and response["Cache-Control"] == "no-store"
    assert not Event.objects.filter(organization_id=acme.pk, method_name="DownloadEvents").exists()


def _trusted_keys():
    from integrity.services import public_keys_json
    from integrity.verify import load_keys

    return load_keys({"keys": public_keys_json()})


def _manifest_path(response) -> str:
    link = response["Link"]
    assert link.endswith('>; rel="describedby"; type="application/json"')
    return link[1:].split(">", 1)[0].removeprefix("http://testserver")


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_a_download_has_a_signed_manifest_that_the_verifier_accepts(owner_client, owner, acme, fmt):
    from integrity.services import seal
    from integrity.verify import Refused, check_export

    make_events(acme, 3)
    seal(acme.pk)
    make_events(acme, 2, method_name="Delete\u2028Secret")  # not sealed yet: the manifest says so
    response = owner_client.get(DOWNLOAD, {"region": "fr-par", "range": "24h", "format": fmt})
    manifest_path = _manifest_path(response)
    assert owner_client.get(manifest_path).status_code == 404  # not before the file's last byte
    body = _body(response).encode()

    answer = owner_client.get(manifest_path)
    assert answer.status_code == 200 and answer["Content-Type"] == "application/json"
    assert ".manifest.json" in answer["Content-Disposition"]
    manifest = answer.json()
    assert manifest["rows"] == 5 and manifest["format"] == fmt and manifest["truncated"] is False
    assert manifest["filters"]["range"] == "24h" and manifest["order"] == "newest first"
    assert manifest["tree"]["leaves"] == 3 and manifest["tree"]["unsealed"] == 2
    assert manifest["head"]["tree_size"] >= 3
    assert check_export(body, manifest, _trusted_keys()).startswith("OK: 5 rows")
    altered = bytearray(body)
    altered[len(body) // 2] ^= 0x01
    with pytest.raises(Refused, match="SHA-256"):
        check_export(bytes(altered), manifest, _trusted_keys())

    # The Exports tab lists the user's recent downloads with their manifests.
    page = owner_client.get(TAB).content.decode()
    assert manifest["file"] in page and manifest_path in page


def test_a_truncated_download_says_so_in_its_manifest(owner_client, acme, settings):
    from integrity.verify import check_export

    settings.EXPORT_DOWNLOAD_MAX_ROWS = 2
    make_events(acme, 5)
    response = owner_client.get(DOWNLOAD, {"range": "24h", "format": "ndjson"})
    body = _body(response).encode()
    manifest = owner_client.get(_manifest_path(response)).json()
    assert manifest["rows"] == 2 and manifest["truncated"] is True
    assert check_export(body, manifest, _trusted_keys()).startswith("OK: 2 rows")


def test_a_download_manifest_is_its_organizations_and_needs_the_read_right(
    owner_client, acme, outsider, member_without_rights
):
    make_events(acme, 1)
    response = owner_client.get(DOWNLOAD, {"range": "24h", "format": "ndjson"})
    _body(response)
    manifest_path = _manifest_path(response)
    stranger = Client()
    stranger.force_login(outsider)
    assert stranger.get(manifest_path).status_code == 404
    reader = Client()
    reader.force_login(member_without_rights)
    assert reader.get(manifest_path).status_code == 403
