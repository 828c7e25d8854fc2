from __future__ import annotations

from django.apps import AppConfig


class WorkerConfig(AppConfig):
    """Background work that survives a dead process: the task worker and at-least-once e-mail.

    Listed before django_tasks_db in INSTALLED_APPS, so that our `db_worker` command (which takes
    up the tasks of workers that died) wins over the library's.
    """

    name = "worker"
    verbose_name = "Background work"
    default_auto_field = "django.db.models.BigAutoField"
