"""The database cache's table: throttles and rate limits count there, shared by every process.

`createcachetable` would create it only for the caches the running settings name (the tests
use an in-memory cache, and a forgotten command leaves production without it), so the table
is created here, under the name config.settings gives the default cache.
"""

from __future__ import annotations

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

CACHE_TABLE = "audit_trail_cache"  # iam.cache.CACHE_TABLE, frozen here as migrations must be


def create_cache_table(apps, schema_editor):
    # Django's own createcachetable logic: the same columns and index, skipped if it exists.
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("iam", "0003_invitation_email_delivery")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table, elidable=False)]
