from __future__ import annotations

from django.apps import AppConfig


class IntegrityConfig(AppConfig):
    """Sealing: each organization's events as leaves of a Merkle tree, under signed tree heads."""

    name = "integrity"
    verbose_name = "Integrity"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.signals import events_recorded
        from integrity.receivers import enqueue_seal

        events_recorded.connect(enqueue_seal, dispatch_uid="integrity_enqueue_seal")
