"""The IAM log entries per organization, region and hour (issue 14): `EventRollup.iam_logs`.

ListLogs answers a total_count. Unfiltered but for dates, it counted every IAM log entry of the
organization on the partial index `audit_event_iam_log_idx`: 510,000 entries and 45 ms for the
largest organization of `make bench`'s 10 M events. The door now adds each entry to its hour's
row, and that total reads the rows for the whole hours and the index for the partial hours at
the edges (`iam.logs.iam_log_count`). This migration counts the entries already stored, in one
UPDATE ... FROM ... GROUP BY over that partial index, and indexes the rows with their counts
(INCLUDE, on PostgreSQL) so that the timeline and this total read them off the index.
"""

from django.db import migrations, models

# The IAM log entries: successful calls of these IAM methods (`audit.models.IAM_LOG_METHOD_NAMES`
# when this migration was written).
METHODS = (
    "CreateAPIKey", "UpdateAPIKey", "DeleteAPIKey",
    "CreateUser", "UpdateUser", "DeleteUser",
    "CreateApplication", "UpdateApplication", "DeleteApplication",
    "CreateGroup", "UpdateGroup", "DeleteGroup",
    "AddGroupMember", "AddGroupMembers", "RemoveGroupMember", "SetGroupMembers",
    "CreatePolicy", "UpdatePolicy", "DeletePolicy", "ClonePolicy", "SetRules",
)  # fmt: skip


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        hour = "date_trunc('hour', recorded_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    else:  # SQLite keeps aware datetimes as UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]"
        hour = "substr(recorded_at, 1, 13) || ':00:00'"
    methods = ", ".join(f"'{name}'" for name in METHODS)
    schema_editor.execute(
        "UPDATE audit_event_rollup SET iam_logs = counted.n FROM ("
        f"  SELECT organization_id, region, {hour} AS hour, COUNT(*) AS n FROM audit_event"
        f"  WHERE product_name = 'iam' AND status_code = 200 AND method_name IN ({methods}) GROUP BY 1, 2, 3"
        ") AS counted WHERE audit_event_rollup.organization_id = counted.organization_id"
        " AND audit_event_rollup.region = counted.region AND audit_event_rollup.hour = counted.hour"
    )


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0009_event_rollup"),
    ]

    operations = [
        migrations.AddField(
            model_name="eventrollup",
            name="iam_logs",
            field=models.IntegerField(default=0),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="eventrollup",
            index=models.Index(
                fields=["organization_id", "region", "hour"],
                include=["events", "refused", "iam_logs"],
                name="audit_event_rollup_counts",
            ),
        ),
    ]
