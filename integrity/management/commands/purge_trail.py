from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from integrity.retention import RetentionRefused, purge


class Command(BaseCommand):
    help = (
        "Remove the events past their organization's retention, after a signed checkpoint each "
        "(the worker runs this every INTEGRITY_PURGE_INTERVAL seconds). Runs as the owner."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = purge()
        except RetentionRefused as error:
            raise CommandError(str(error)) from error
        for checkpoint in report.checkpoints:
            self.stdout.write(
                f"{checkpoint.organization_id}: {checkpoint.count:,} events recorded before "
                f"{checkpoint.cut.isoformat()} removed (checkpoint at tree size {checkpoint.tree_size})"
            )
        for organization_id in report.held:
            self.stdout.write(f"{organization_id}: under legal hold, nothing removed")
        if report.dropped:
            self.stdout.write(f"Dropped partitions: {', '.join(report.dropped)}")
