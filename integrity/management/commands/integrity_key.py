from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from integrity.keys import ensure_key_file, raw_public, signing_key


class Command(BaseCommand):
    help = "Create the sealing key file (INTEGRITY_SIGNING_KEY_FILE) unless a key is set; print its key id."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.INTEGRITY_SIGNING_KEY and ensure_key_file(Path(settings.INTEGRITY_SIGNING_KEY_FILE)):
            self.stdout.write(f"Created {settings.INTEGRITY_SIGNING_KEY_FILE}")
        private, kid = signing_key()
        self.stdout.write(f"key id {kid}\npublic key {raw_public(private).hex()}")
