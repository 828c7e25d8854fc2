"""Throttles hold across processes: gunicorn with three workers, as in production, against the
test database and the shared database cache. Concurrent attempts each get their own count,
so exactly the limit gets through, and an attacker's address does not lock the owner out."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

from audit.services import Actor
from iam.services import api_key_create
from iam.views.auth import LOGIN_MAX_FAILURES_PER_EMAIL, LOGIN_MAX_FAILURES_PER_IP
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
API_RATE_LIMIT = 20
API_WINDOW = 3600


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = db["HOST"] or "127.0.0.1"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port: int) -> None:
        self.port = port
        self.csrf = ""

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            response.read()
            return response
        finally:
            conn.close()

    def login(self, email: str, password: str, ip: str) -> int:
        body = urlencode({"username": email, "password": password, "csrfmiddlewaretoken": self.csrf})
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={self.csrf}",
            "X-Forwarded-For": ip,  # believed: 127.0.0.1 is our trusted proxy here
        }
        return self.request("POST", "/login/", body, headers).status


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, django_db_blocker):
    """Three gunicorn workers on the test database, with production's settings: the database
    cache, an API limit of 20 per hour, and 127.0.0.1 as the trusted proxy. Started once for
    the module; each test uses its own addresses and accounts, as counters outlive a test."""
    port = _free_port()
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "multiprocess-throttle-test",
        "DEBUG": "0",
        "SECURE_COOKIES": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "TRUSTED_PROXIES": "127.0.0.1",
        "API_RATE_LIMIT": str(API_RATE_LIMIT),
        "API_RATE_LIMIT_WINDOW": str(API_WINDOW),
        "LOG_LEVEL": "WARNING",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "config.wsgi", "-w", "3", "-b", f"127.0.0.1:{port}", "--timeout", "60"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Server(port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = server.request("GET", "/login/")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read().decode() if process.stderr else "") from None
                time.sleep(0.2)
        assert response.status == 200
        cookie = SimpleCookie(response.getheader("Set-Cookie"))
        server.csrf = cookie["csrftoken"].value
        yield server
    finally:
        process.send_signal(signal.SIGINT)  # gunicorn: quick shutdown
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _at_once(n: int, call) -> Counter:
    """Fire `n` calls concurrently (the three workers share them) and count their statuses."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        return Counter(pool.map(lambda i: call(i), range(n)))


@pytest.mark.django_db(transaction=True)
def test_the_login_throttle_lets_exactly_its_limit_through_across_workers(gunicorn, owner, acme):
    attacker = "198.51.100.23"
    statuses = _at_once(12, lambda _: gunicorn.login(owner.email, "guess", attacker))
    assert statuses == {200: LOGIN_MAX_FAILURES_PER_EMAIL, 429: 12 - LOGIN_MAX_FAILURES_PER_EMAIL}

    # The right password from the attacker's address waits too, but the owner, elsewhere, is in.
    # (The server runs production's password hashers, not the tests' fast one.)
    owner.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    owner.save(update_fields=["password"])
    assert gunicorn.login(owner.email, PASSWORD, attacker) == 429
    assert gunicorn.login(owner.email, PASSWORD, "203.0.113.5") == 302


@pytest.mark.django_db(transaction=True)
def test_the_per_address_ceiling_holds_across_workers(gunicorn, owner, acme):
    spray = "198.51.100.24"
    statuses = _at_once(
        LOGIN_MAX_FAILURES_PER_IP + 6, lambda i: gunicorn.login(f"v{i}@example.org", "x", spray)
    )
    assert statuses == {200: LOGIN_MAX_FAILURES_PER_IP, 429: 6}


@pytest.mark.django_db(transaction=True)
def test_the_api_rate_limit_lets_exactly_its_limit_through_across_workers(gunicorn, owner, acme):
    _, secret = api_key_create(actor=Actor.system(), organization=acme, user=owner)
    # A fixed window: stay clear of its end, so that the burst falls in one window.
    if API_WINDOW - time.time() % API_WINDOW < 30:
        time.sleep(API_WINDOW - time.time() % API_WINDOW + 1)

    headers = {"X-Auth-Token": secret}
    statuses = _at_once(30, lambda _: gunicorn.request("GET", "/iam/v1alpha1/api-keys", None, headers).status)

    assert statuses == {200: API_RATE_LIMIT, 429: 30 - API_RATE_LIMIT}
