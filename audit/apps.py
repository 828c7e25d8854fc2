from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.core.signals import request_started
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.tasks.signals import task_started


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit Trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.database import runtime_role_check
        from audit.lookups import register_sqlite_functions
        from audit.partitions import after_migrate
        from core import replication

        connection_created.connect(register_sqlite_functions, dispatch_uid="audit_sqlite_functions")
        # Read-your-writes for the reads that may go to the replica (core.replication).
        connection_created.connect(replication.install_write_marker, dispatch_uid="replication_writes")
        request_started.connect(replication.begin, dispatch_uid="replication_request")
        task_started.connect(replication.begin, dispatch_uid="replication_task")

        post_migrate.connect(after_migrate, sender=self, dispatch_uid="audit_after_migrate")
        # Not tagged `database`: plain `manage.py check` (and runserver, migrate) must show it.
        checks.register(runtime_role_check)
