"""How fast the demo generator fills the trail through `record_many` (`manage.py bench_seed`)."""

from __future__ import annotations

from django.db import connection, transaction

from demo.bench import BenchError
from demo.seed import demo_seed


def bench_seed(*, events: int, days: int, keep: bool) -> str:
    """Generate `events` demo events over `days` days and record them; return the rate as a line.

    Everything happens in one transaction, rolled back unless `keep`, so that benches can repeat.
    """
    if events < 1:
        raise BenchError("--events must be 1 or more.")
    with transaction.atomic():
        try:
            result = demo_seed(events=events, days=days, force=True, seed=1)
        except ValueError as error:
            raise BenchError(str(error)) from error
        transaction.set_rollback(not keep)
    return (
        f"{connection.vendor}: {result.events:,} events (generated and recorded through record_many) "
        f"in {result.seconds:.1f} s = {result.rate:,.0f} events/s" + ("." if keep else " (rolled back).")
    )
