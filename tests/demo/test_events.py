"""The one event generator that the demo and the benchmarks share."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from demo.events import HOUR_WEIGHTS, moments

PARIS = ZoneInfo("Europe/Paris")


# Two weeks from a Saturday to a Saturday: ten whole weekdays, in winter time (UTC+1) and in
# summer time (UTC+2).
@pytest.mark.parametrize("end", [datetime(2026, 1, 17, tzinfo=UTC), datetime(2026, 7, 18, tzinfo=UTC)])
def test_the_trail_is_busy_when_paris_works_summer_time_included(end):
    local = [at.astimezone(PARIS) for at in moments(random.Random(1), 50_000, end=end, days=14)]
    weekdays = Counter(at.hour for at in local if at.weekday() < 5)
    for hour in (3, 7, 8, 18, 19, 23):
        assert weekdays[hour] / weekdays[12] == pytest.approx(HOUR_WEIGHTS[hour], abs=0.02)


def test_a_busy_last_hour_comes_last_and_the_count_stays_exact():
    end = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    instants = list(moments(random.Random(2), 1000, end=end, days=3, last_hour=100))
    assert len(instants) == 1000 and instants == sorted(instants)
    assert sum(at > end.replace(hour=8) for at in instants) >= 100
    assert all(at <= end for at in instants)
