"""Idempotency per organization.

- `audit_event_key`: ingestion's idempotency keys, primary key (organization_id, event_id).
- The events table's primary key becomes (id, recorded_at, organization_id), so that two
  organizations may each store an event with the same id (even at the same instant). Django's
  model state keeps `id` as the primary key; see `audit.partitions.EVENT_KEY`.
"""

from django.db import migrations, models

from audit.partitions import EVENT_KEY, set_primary_key


def forward(apps, schema_editor):
    set_primary_key(schema_editor, apps.get_model("audit", "Event"), EVENT_KEY)


def backward(apps, schema_editor):
    # As 0001 made it: (id, recorded_at) on PostgreSQL, id alone on SQLite.
    key = ("id", "recorded_at") if schema_editor.connection.vendor == "postgresql" else ("id",)
    set_primary_key(schema_editor, apps.get_model("audit", "Event"), key)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_timeline_index_only'),
    ]

    operations = [
        migrations.CreateModel(
            name='EventKey',
            fields=[
                ('pk', models.CompositePrimaryKey('organization_id', 'event_id', blank=True, editable=False, primary_key=True, serialize=False)),
                ('organization_id', models.UUIDField()),
                ('event_id', models.UUIDField()),
            ],
            options={
                'db_table': 'audit_event_key',
                'default_permissions': (),
            },
        ),
        migrations.RunPython(forward, backward),
    ]
