from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data and the benchmarks: the top of the stack. It may import every app (it seeds
    them through their services); no app imports it."""

    name = "demo"
    verbose_name = "Demo and benchmarks"
