from django.db import migrations

# Every worker looks for abandoned RUNNING tasks every few seconds (worker.services.tasks_reclaim);
# django-tasks-db indexes only the READY ones, and its table keeps every finished task until it is
# pruned. This partial index holds the running few. (RunSQL: the table is the library's model.)
CREATE = (
    "CREATE INDEX IF NOT EXISTS worker_running_tasks_idx "
    "ON django_tasks_database_dbtaskresult (started_at) WHERE status = 'RUNNING'"
)
DROP = "DROP INDEX IF EXISTS worker_running_tasks_idx"


class Migration(migrations.Migration):
    dependencies = [
        ("worker", "0001_initial"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
