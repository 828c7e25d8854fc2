"""The Exports tab in a real browser: create an export job, see it run, download the filtered view."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from exports.models import ExportJob
from integrity.services import public_keys_json
from integrity.verify import check_export, load_keys
from tests.api.conftest import make_events
from tests.factories import PASSWORD

SHOTS = Path(__file__).parent / "screenshots"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _login(page: Page, live_server, user) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/audit-trail/"))


def test_create_an_export_job_see_it_run_and_download_the_filtered_view(page: Page, live_server, owner, acme):
    make_events(acme, 3)
    make_events(acme, 2, status_code=403, method_name="DeleteSecret")
    _login(page, live_server, owner)
    page.goto(f"{live_server.url}/audit-trail/events/?region=fr-par&range=24h&status=403")
    page.get_by_role("link", name="Exports").click()
    expect(page.get_by_role("heading", name="Download this view")).to_be_visible()
    expect(page.get_by_text("as you filtered it")).to_be_visible()

    page.get_by_label("Name").fill("nightly-compliance")
    page.get_by_label("Bucket", exact=True).fill("acme-audit")
    page.get_by_label("Prefix").fill("trail")
    page.get_by_role("button", name="Create export job").click()
    expect(page.get_by_text("Export job nightly-compliance created")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("nightly-compliance"))
    expect(row.get_by_text("Success")).to_be_visible()  # the first run ran
    expect(row.get_by_text("90 days written.")).to_be_visible()
    assert ExportJob.objects.get(organization=acme).last_status == "success"
    page.screenshot(path=SHOTS / "exports_1280.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.screenshot(path=SHOTS / "exports_1440.png", full_page=True)

    # Back to the filtered Events list, then its download from the Exports tab.
    page.goto(f"{live_server.url}/audit-trail/events/?region=fr-par&range=24h&status=403")
    page.get_by_role("link", name="Exports").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert len(rows) == 2 and {r["status_code"] for r in rows} == {"403"}
    assert {r["method_name"] for r in rows} == {"DeleteSecret"}

    # Its signed manifest, listed once the download ended, checks against the file.
    page.reload()
    made = page.get_by_role("row", name=re.compile(re.escape(download.suggested_filename)))
    with page.expect_download() as manifest_info:
        made.get_by_role("link", name="Signed manifest").click()
    manifest = json.loads(Path(manifest_info.value.path()).read_text())
    assert manifest["file"] == download.suggested_filename and manifest["rows"] == 2
    keys = load_keys({"keys": public_keys_json()})
    assert check_export(Path(download.path()).read_bytes(), manifest, keys).startswith("OK: 2 rows")
    page.screenshot(path=SHOTS / "exports_manifest.png", full_page=True)


def test_a_failing_job_shows_its_error_on_the_tab(page: Page, live_server, owner, acme, settings, tmp_path):
    blocked = tmp_path / "exports"
    blocked.mkdir()
    (blocked / "acme-audit").write_text("a file where the bucket's directory should be")
    settings.EXPORT_LOCAL_DIR = str(blocked)
    _login(page, live_server, owner)
    page.goto(f"{live_server.url}/audit-trail/exports/?region=fr-par")
    page.get_by_label("Name").fill("broken")
    page.get_by_label("Bucket", exact=True).fill("acme-audit")
    page.get_by_role("button", name="Create export job").click()
    row = page.get_by_role("row", name=re.compile("broken"))
    expect(row.get_by_text("Failure")).to_be_visible()
    expect(row.get_by_role("alert")).to_contain_text("Cannot write")
    page.screenshot(path=SHOTS / "exports_failure.png", full_page=True)
