from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL setting")
def test_postgresql_sessions_run_without_jit():
    # JIT compilation only slowed the wide scans (free text, CIDR over 30 days) in bench_events.
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
