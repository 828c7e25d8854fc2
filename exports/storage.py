"""Where export files go: an S3-compatible bucket, or a local directory laid out the same way.

`EXPORT_S3_ENDPOINTS` maps a Scaleway region to an S3 endpoint and its credentials:
`{"fr-par": {"endpoint_url": "https://s3.fr-par.scw.cloud", "access_key": "SCW…", "secret_key": "…"}}`.
A bucket in a region without an entry goes to `EXPORT_LOCAL_DIR/<bucket>/<key>`, so exports work
with nothing configured.

Both writes are atomic: an object appears whole under its final name or not at all. S3 makes a
single PUT visible only once its whole body arrived; the directory writes a temporary file beside
the final one and renames it (`os.replace`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Protocol

from django.conf import settings

# The content type of a day's object: NDJSON, stored gzipped (S3's Content-Encoding).
NDJSON_GZ = "application/x-ndjson+gzip"


class StorageError(Exception):
    """A write the storage refused, with a message a user can act on."""


class Storage(Protocol):
    def check(self) -> None: ...

    def put(self, key: str, body: IO[bytes], *, content_type: str = NDJSON_GZ) -> None: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def check(self) -> None:
        """Nothing to ask: the directory is made on the first write."""

    def put(self, key: str, body: IO[bytes], *, content_type: str = NDJSON_GZ) -> None:
        path = self.root / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
            try:
                with os.fdopen(fd, "wb") as out:
                    while chunk := body.read(1 << 20):
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(
                f"Cannot write into the export directory {self.root}: {exc.strerror or exc}"
            ) from exc


class S3Storage:
    def __init__(self, *, bucket: str, region: str, endpoint: dict[str, Any]) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint.get("endpoint_url"),
            aws_access_key_id=endpoint.get("access_key"),
            aws_secret_access_key=endpoint.get("secret_key"),
            region_name=endpoint.get("region_name", region),
            config=Config(
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
                s3={"addressing_style": endpoint.get("addressing_style", "path")},
                # Checksums only where S3 requires them: S3-compatible stores (Scaleway's included)
                # do not all take the newer default trailers.
                request_checksum_calculation="when_required",
            ),
        )

    def put(self, key: str, body: IO[bytes], *, content_type: str = NDJSON_GZ) -> None:
        """Write `body` under `key`: a day's gzipped NDJSON (the default), or a JSON document."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # One PUT, never multipart: S3 shows the object only once the whole body is stored.
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                **(
                    {"ContentType": "application/x-ndjson", "ContentEncoding": "gzip"}
                    if content_type == NDJSON_GZ
                    else {"ContentType": content_type}
                ),
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "Error"), error.get("Message", "")
            raise StorageError(_explain(code, self.bucket, message)) from exc
        except BotoCoreError as exc:
            raise StorageError(f"Object storage unreachable: {exc}") from exc

    def check(self) -> None:
        """Before any write: the bucket exists and the credentials open it (HEAD bucket). Some
        servers create a missing bucket on PUT, or answer it vaguely; S3 itself answers 404."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Error")
            code = {"404": "NoSuchBucket", "NotFound": "NoSuchBucket", "403": "AccessDenied"}.get(code, code)
            raise StorageError(_explain(code, self.bucket, "")) from exc
        except BotoCoreError as exc:
            raise StorageError(f"Object storage unreachable: {exc}") from exc


CREDENTIAL_ERRORS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken")


def _explain(code: str, bucket: str, message: str) -> str:
    if code == "NoSuchBucket":
        return f"The bucket {bucket} does not exist."
    if code in CREDENTIAL_ERRORS:
        return f"Object storage refused the credentials for bucket {bucket} ({code}): {message}".rstrip(": ")
    return f"Object storage refused the write to bucket {bucket} ({code}): {message}".rstrip(": ")


def local_root() -> Path:
    return Path(settings.EXPORT_LOCAL_DIR)


def storage_for(*, bucket: str, region: str) -> Storage:
    """The storage holding `bucket` in the (Scaleway) `region`."""
    endpoint = settings.EXPORT_S3_ENDPOINTS.get(region)
    if endpoint:
        return S3Storage(bucket=bucket, region=region, endpoint=endpoint)
    return LocalStorage(local_root() / bucket)


def destination(*, bucket: str, region: str) -> str:
    """Where a bucket's objects go, for the Exports tab: an S3 URL or a local directory."""
    endpoint = settings.EXPORT_S3_ENDPOINTS.get(region)
    if endpoint:
        return f"s3://{bucket} ({endpoint.get('endpoint_url') or region})"
    return str(local_root() / bucket)
