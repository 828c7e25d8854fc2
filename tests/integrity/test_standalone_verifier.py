"""`python -m integrity.verify` in a virtual environment of its own, with only `cryptography`: it
accepts proofs fetched from the API and refuses a consistency proof of a rewritten history."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integrity import merkle
from integrity.keys import signing_key
from integrity.models import TreeHead
from integrity.services import head_json, leaf_hashes, seal
from tests.api.conftest import ApiClient, api_key_for
from tests.integrity.conftest import make_events

ROOT = Path(__file__).resolve().parents[2]
BASE = "/x/integrity/v1"


@pytest.fixture(scope="module")
def verifier(tmp_path_factory) -> tuple[list[str], Path]:
    """A venv with cryptography alone, and a copy of the verifier's five modules (nothing else of
    the project): the command that runs it."""
    home = tmp_path_factory.mktemp("auditor")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home / "venv")], check=True)
    python = home / "venv" / "bin" / "python"
    uv = ROOT / ".venv" / "bin" / "uv"
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--python", str(python), "cryptography"], check=True
    )
    (home / "integrity").mkdir()
    for name in ("__init__.py", "merkle.py", "canonical.py", "manifest.py", "verify.py"):
        shutil.copy(ROOT / "integrity" / name, home / "integrity" / name)
    assert subprocess.run([str(python), "-c", "import django"], capture_output=True).returncode != 0
    return [str(python), "-m", "integrity.verify"], home


def run(verifier, *args: str) -> subprocess.CompletedProcess[str]:
    command, home = verifier
    return subprocess.run([*command, *args], cwd=home, capture_output=True, text=True, timeout=60)


def test_the_standalone_verifier_checks_api_proofs(verifier, auditor, acme, tmp_path) -> None:
    api = ApiClient(api_key_for(auditor, acme)[1])
    seal(acme.pk)
    make_events(acme, 3)
    seal(acme.pk)
    events = make_events(acme, 4)
    seal(acme.pk)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(api.get(f"{BASE}/public-keys").json()))

    inclusion = api.get(f"{BASE}/events/{events[2].id}/inclusion-proof").json()
    good = tmp_path / "inclusion.json"
    good.write_text(json.dumps(inclusion))
    answer = run(verifier, "inclusion", str(good), "--keys", str(keys))
    assert answer.returncode == 0 and answer.stdout.startswith("OK: event"), answer.stdout + answer.stderr

    inclusion["event"]["method_name"] = "SomethingElse"
    bad = tmp_path / "altered.json"
    bad.write_text(json.dumps(inclusion))
    answer = run(verifier, "inclusion", str(bad), "--keys", str(keys))
    assert answer.returncode == 1 and "REFUSED" in answer.stdout

    sizes = list(
        TreeHead.objects.filter(organization_id=acme.pk)
        .order_by("tree_size")
        .values_list("tree_size", flat=True)
    )
    middle, last = sizes[-2], sizes[-1]
    consistency = api.get(f"{BASE}/consistency-proof", {"first": middle, "second": last}).json()
    good = tmp_path / "consistency.json"
    good.write_text(json.dumps(consistency))
    answer = run(verifier, "consistency", str(good), "--keys", str(keys))
    assert answer.returncode == 0, answer.stdout + answer.stderr

    # A rewritten history: one early event changed, the tree rebuilt and its head signed with the
    # real key (what a server that holds its key could do). Its consistency proof is refused.
    rewritten = leaf_hashes(acme.pk, last)
    rewritten[middle - 2] = merkle.leaf_hash(b"rewritten")
    private, kid = signing_key()
    from integrity.canonical import head_message

    forged = {
        "organization_id": str(acme.pk),
        "tree_size": last,
        "root_hash": merkle.root(rewritten).hex(),
        "timestamp_ms": int(time.time() * 1000),
        "key_id": kid,
    }
    message = head_message(
        organization_id=str(acme.pk),
        tree_size=last,
        root_hash=merkle.root(rewritten),
        timestamp_ms=forged["timestamp_ms"],
    )
    forged["signature"] = private.sign(message).hex()
    lie = {
        "first": consistency["first"],
        "second": forged,
        "consistency_path": [h.hex() for h in merkle.consistency_proof(rewritten, middle, last)],
    }
    bad = tmp_path / "rewritten.json"
    bad.write_text(json.dumps(lie))
    answer = run(verifier, "consistency", str(bad), "--keys", str(keys))
    assert answer.returncode == 1 and "history was rewritten" in answer.stdout

    # A head signed by a key the auditor does not hold is refused.
    other_keys = tmp_path / "other-keys.json"
    other_keys.write_text(json.dumps({"keys": []}))
    assert run(verifier, "consistency", str(good), "--keys", str(other_keys)).returncode == 1
    assert head_json(TreeHead.objects.get(organization_id=acme.pk, tree_size=last)) == consistency["second"]


def _export_day(acme, tmp_path, settings):
    """A real export run into a local directory: yesterday's events, one of them ingested late (so
    the day's leaves are not contiguous), and the paths of the day's object, manifest and heads."""
    from datetime import UTC, timedelta

    from django.utils import timezone

    from audit.services import Actor
    from exports import services

    settings.EXPORT_LOCAL_DIR = str(tmp_path / "bucket")
    settings.EXPORT_S3_ENDPOINTS = {}
    yesterday = timezone.now().astimezone(UTC).replace(hour=9, minute=0) - timedelta(days=1)
    make_events(acme, 3, recorded_at=yesterday)
    seal(acme.pk)
    make_events(acme, 2)  # today's: leaves between yesterday's
    seal(acme.pk)
    make_events(acme, 1, recorded_at=yesterday + timedelta(hours=1))  # late, yesterday's
    seal(acme.pk)
    job = services.export_job_create(
        actor=Actor.system(),
        organization=acme,
        region="fr-par",
        name="daily",
        bucket="compliance",
        s3_region="fr-par",
    )
    services.export_job_run(job_id=job.pk)
    day = yesterday.date()
    folder = tmp_path / "bucket" / "compliance" / str(acme.pk) / "fr-par" / day.strftime("%Y/%m/%d")
    stem = folder / f"audit-trail_fr-par_{day:%Y-%m-%d}"
    return Path(f"{stem}.ndjson.gz"), Path(f"{stem}.manifest.json"), Path(f"{stem}.heads.json")


def test_the_standalone_verifier_checks_an_exported_day_against_its_manifest(
    verifier, auditor, acme, tmp_path, settings
) -> None:
    import gzip

    api = ApiClient(api_key_for(auditor, acme)[1])
    day, manifest_path, heads_path = _export_day(acme, tmp_path, settings)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(api.get(f"{BASE}/public-keys").json()))
    manifest = json.loads(manifest_path.read_text())
    assert manifest["rows"] == 4 and manifest["tree"]["leaves"] == 4
    assert manifest["tree"]["contiguous"] is False  # today's events sit between yesterday's leaves
    assert manifest["tree"]["leaf_index_max"] - manifest["tree"]["leaf_index_min"] + 1 > 4

    answer = run(verifier, "export", str(day), str(manifest_path), "--keys", str(keys))
    assert answer.returncode == 0 and answer.stdout.startswith("OK: 4 rows"), answer.stdout + answer.stderr
    plain = tmp_path / "day.ndjson"  # gunzipped, it checks too
    plain.write_bytes(gzip.decompress(day.read_bytes()))
    answer = run(verifier, "export", str(plain), str(manifest_path), "--keys", str(keys))
    assert answer.returncode == 0, answer.stdout + answer.stderr

    # One byte changed, in the gzipped object, in the NDJSON, or in the manifest: refused.
    for target, position in ((day, len(day.read_bytes()) // 2), (plain, 30)):
        data = bytearray(target.read_bytes())
        data[position] ^= 0x01
        altered = tmp_path / f"altered-{target.name}"
        altered.write_bytes(bytes(data))
        answer = run(verifier, "export", str(altered), str(manifest_path), "--keys", str(keys))
        assert answer.returncode == 1 and "REFUSED" in answer.stdout, answer.stdout
    forged = tmp_path / "forged.manifest.json"
    forged.write_text(json.dumps({**manifest, "rows": 3}))
    answer = run(verifier, "export", str(day), str(forged), "--keys", str(keys))
    assert answer.returncode == 1 and "signature" in answer.stdout

    # The heads signed that day sit beside it (all of this test's were signed today: none).
    assert json.loads(heads_path.read_text()) == {
        "organization_id": str(acme.pk),
        "day": manifest["day"],
        "heads": [],
    }
