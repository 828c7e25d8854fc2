"""An export file's manifest, specified in the standard library only (the standalone verifier
imports this module). docs/integrity.md prints the same rules for auditors.

A manifest is a JSON object describing one export file (a day written by an export job, or a
"Download this view"): what it holds (`rows`, `first_recorded_at`, `last_recorded_at`), its bytes
(`sha256` of the file as written, `content_sha256` of its NDJSON once decompressed, `compression`),
where its events sit in the organization's Merkle tree (`tree`), the signed tree head current when
the file was made (`head`), and `key_id` and `signature`.

The signature is Ed25519 over `audit-trail-export-manifest/v1\\n` followed by the canonical JSON
(`integrity.canonical.canonical_bytes`) of the manifest without its `signature` member.
"""

from __future__ import annotations

from typing import Any

from integrity.canonical import canonical_bytes

MANIFEST_CONTEXT = b"audit-trail-export-manifest/v1\n"
VERSION = "audit-trail-export-manifest/v1"


def manifest_message(manifest: dict[str, Any]) -> bytes:
    """The bytes a manifest's signature signs: everything but the signature itself."""
    return MANIFEST_CONTEXT + canonical_bytes({k: v for k, v in manifest.items() if k != "signature"})
