"""Refuse TRUNCATE on the append-only tables and on every partition of audit_event.

TRUNCATE bypasses row triggers, so 0002's guard did not stop it. Statement-level triggers are
not cloned onto partitions: this puts one on each existing partition, and `ensure_partitions`
on each new one. The trigger function now names the table it refuses (a partition's name when
one is addressed directly). SQLite has no TRUNCATE: nothing to do there.
"""

from django.db import migrations

FUNCTION = """CREATE OR REPLACE FUNCTION audit_event_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     RAISE EXCEPTION '% is append-only (% blocked)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
   END; $$"""
OLD_FUNCTION = """CREATE OR REPLACE FUNCTION audit_event_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     RAISE EXCEPTION 'audit_event is append-only (% blocked)', TG_OP USING ERRCODE = 'insufficient_privilege';
   END; $$"""
# Each table and each partition of audit_event (format's %I quotes the trigger name). Run with
# params=None, so the % are PL/pgSQL's, not placeholders.
EACH = """DO $$ DECLARE t regclass; BEGIN
  FOR t IN SELECT 'audit_event'::regclass UNION ALL SELECT 'audit_authenticationevent'::regclass
           UNION ALL SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'audit_event'::regclass
  LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', CASE WHEN t = 'audit_authenticationevent'::regclass
      THEN 'audit_authevent_no_truncate' ELSE 'audit_event_no_truncate' END, t);
    {create}
  END LOOP; END $$"""
CREATE = """EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT
      EXECUTE FUNCTION audit_event_forbid_change()', CASE WHEN t = 'audit_authenticationevent'::regclass
      THEN 'audit_authevent_no_truncate' ELSE 'audit_event_no_truncate' END, t);"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)
        schema_editor.execute(EACH.format(create=CREATE), params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(EACH.format(create=""), params=None)
        schema_editor.execute(OLD_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_event_key_per_organization")]
    operations = [migrations.RunPython(forward, backward)]
