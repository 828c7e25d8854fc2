from __future__ import annotations

import os
import tempfile

# settings.py refuses to start without a key when DEBUG is off (as tests run). Set it in the
# environment, not here, so that the subprocesses tests start (manage.py ...) have it too.
os.environ.setdefault("SECRET_KEY", "tests-only-key-never-used-outside-the-test-suite")

from .settings import *  # noqa: F403  # the test settings are the real ones, amended

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Tests run tasks for real: the immediate backend executes them at enqueue (on commit).
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405  # from settings
    # A file, not :memory:: live_server's request threads then open their own connections
    # instead of sharing the test thread's, which SQLite's thread check refuses at close.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}  # noqa: F405  # from settings

# Every API answer in the suite is checked against its endpoint's declaration (api.declare).
MIDDLEWARE = ["tests.api.conformance.ResponseConformanceMiddleware", *MIDDLEWARE]  # noqa: F405  # from settings

# Export jobs the tests create (and run, with the immediate backend) write under a temporary
# directory, never into the project's .run/exports.
EXPORT_LOCAL_DIR = tempfile.mkdtemp(prefix="audit-trail-test-exports-")
EXPORT_S3_ENDPOINTS = {}

# Sealing signs with a key of the test run's own, and runs on every recorded event only in the tests
# that turn it on (tests/integrity): elsewhere it would add its queries to every query count.
INTEGRITY_SIGNING_KEY_FILE = os.path.join(tempfile.mkdtemp(prefix="audit-trail-test-key-"), "signing-key.pem")
INTEGRITY_SEAL_ON_RECORD = False
