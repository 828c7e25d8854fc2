"""The shared store behind the throttles: the database cache's increment is in place and keeps
the window, and the default settings never count per process."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from iam import throttle
from iam.cache import CACHE_TABLE, DatabaseCache

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database_cache(db):
    return DatabaseCache(CACHE_TABLE, {})


def _expires(cache: DatabaseCache, key: str):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT expires FROM {CACHE_TABLE} WHERE cache_key = %s", [cache.make_key(key)])
        return cursor.fetchone()[0]


def test_the_migrations_create_the_cache_table(db):
    assert CACHE_TABLE in connection.introspection.table_names()


def test_the_database_cache_increments_in_place_and_keeps_the_window(database_cache):
    assert database_cache.add("k", 0, timeout=900)
    opened = _expires(database_cache, "k")

    assert [database_cache.incr("k") for _ in range(3)] == [1, 2, 3]
    assert database_cache.decr("k") == 2
    assert database_cache.get("k") == 2
    assert _expires(database_cache, "k") == opened  # Django's own incr would reset it to 300 s


def test_the_database_cache_refuses_to_increment_a_missing_or_expired_key(database_cache):
    with pytest.raises(ValueError):
        database_cache.incr("missing")
    database_cache.add("old", 5, timeout=900)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {CACHE_TABLE} SET expires = %s WHERE cache_key = %s",
            [timezone.now() - timedelta(seconds=1), database_cache.make_key("old")],
        )
    with pytest.raises(ValueError):
        database_cache.incr("old")


def test_a_hit_opens_a_window_and_counts_in_it(db, settings):
    settings.CACHES = {"default": {"BACKEND": "iam.cache.DatabaseCache", "LOCATION": CACHE_TABLE}}
    assert [throttle.hit("login-attempts:x", window=60) for _ in range(3)] == [1, 2, 3]
    throttle.give_back("login-attempts:x")
    assert throttle.hit("login-attempts:x", window=60) == 3
    throttle.clear("login-attempts:x")
    assert throttle.hit("login-attempts:x", window=60) == 1
    throttle.give_back("nothing-here")  # no window: nothing to give back, and no error


def _production_cache(**env: str) -> str:
    """CACHES["default"] as config.settings builds it from the environment, in a fresh process."""
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {"SECRET_KEY": "test"} | env
    code = (
        "import config.settings as s; print(s.CACHES['default']['BACKEND'], s.CACHES['default']['LOCATION'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_production_counts_in_the_database_by_default_and_in_redis_when_asked():
    assert _production_cache() == f"iam.cache.DatabaseCache {CACHE_TABLE}"
    assert _production_cache(REDIS_URL="redis://cache:6379/0") == (
        "django.core.cache.backends.redis.RedisCache redis://cache:6379/0"
    )
