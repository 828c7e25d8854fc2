"""Database triggers that make the events table append-only.

PostgreSQL: UPDATE and DELETE are refused on the partitioned parent, which clones the trigger
onto every partition, existing and future. SQLite: UPDATE only, because Django flushes SQLite
test databases with DELETE; there the Python guards stop DELETE.
"""

from django.db import migrations

from audit.partitions import SQLITE_APPEND_ONLY_TRIGGER

PG_FORWARD = [
    """CREATE FUNCTION audit_event_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION 'audit_event is append-only (% blocked)', TG_OP USING ERRCODE = 'insufficient_privilege';
       END; $$""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION audit_event_forbid_change()""",
    """CREATE TRIGGER audit_authevent_append_only BEFORE UPDATE OR DELETE ON audit_authenticationevent
       FOR EACH ROW EXECUTE FUNCTION audit_event_forbid_change()""",
]
PG_BACKWARD = [
    "DROP TRIGGER audit_authevent_append_only ON audit_authenticationevent",
    "DROP TRIGGER audit_event_append_only ON audit_event",
    "DROP FUNCTION audit_event_forbid_change()",
]
SQLITE_FORWARD = [SQLITE_APPEND_ONLY_TRIGGER]
SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS audit_event_no_update"]


def _run(schema_editor, pg, sqlite):
    for sql in {"postgresql": pg, "sqlite": sqlite}.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql, params=None)  # params=None: the % in RAISE is not a placeholder


def forward(apps, schema_editor):
    _run(schema_editor, PG_FORWARD, SQLITE_FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, PG_BACKWARD, SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
