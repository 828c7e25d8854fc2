"""Fixtures of the fault tests: a real `manage.py db_worker` subprocess on pytest's test database,
and a real SMTP server (aiosmtpd) that the test can take down, bring back, or make hang mid-DATA."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection
from django.test import override_settings

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], *, timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.1)


class Inbox:
    """An SMTP handler that keeps what it accepted. With `hang`, a DATA command waits (the sender
    is then mid-exchange) until `release`, then answers 451: nothing delivered. With
    `accept_then_hang`, the message counts as delivered but the 250 only comes after `release`."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.hang = False
        self.accept_then_hang = False
        self.entered = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's name
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        if self.hang or self.accept_then_hang:
            if self.accept_then_hang:
                self.messages.append(message)
            self.entered.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            if self.hang:
                return "451 Try again later"
            return "250 Message accepted for delivery"
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


class Smtp:
    """A real SMTP server on a fixed port, which the test can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.inbox.release.set()
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    try:
        yield server
    finally:
        server.stop()


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    """`manage.py db_worker` subprocesses against the test database, killed at teardown."""

    def __init__(self, logs: Path, smtp: Smtp) -> None:
        self.logs = logs
        self.smtp = smtp
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.faults.worker_settings",
            "DATABASE_URL": _database_url(),
            "SECRET_KEY": settings.SECRET_KEY,  # the invitation links are derived from it
            "DEBUG": "0",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.smtp.port),
            "EMAIL_TIMEOUT": "5",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay"]
            + ["--interval", "0.1", "--worker-id", name],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append((name, process))
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{(self.logs / f'{name}.log').read_text(errors='replace')[-3000:]}"
            for name, _ in self.processes
        )


@pytest.fixture
def workers(transactional_db, tmp_path, smtp, request) -> Iterator[Workers]:
    """Depends on the database fixture, so that its teardown (killing the workers) runs first."""
    pool = Workers(tmp_path, smtp)
    try:
        with override_settings(TASKS=DATABASE_TASKS):  # this process enqueues into the real queue
            yield pool
    finally:
        pool.stop_all()
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            print(pool.output())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


# The real S3-compatible server of the export tests, for the export fault test.
from tests.exports.conftest import bucket, s3_server  # noqa: E402, F401  # fixtures, by name
