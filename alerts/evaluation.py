"""The firing logic, free of side effects: which matches make a rule fire.

Both evaluation (on new events) and the backtest (over the last 30 days) use `sweep`, so a
backtest says exactly what evaluation would have done.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

SAMPLE_SIZE = 10


@dataclass(frozen=True)
class Match:
    recorded_at: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class Firing:
    trigger: Match
    window_start: datetime
    window_end: datetime
    matched_count: int
    samples: tuple[uuid.UUID, ...]


def sweep(
    matches: Sequence[Match],
    *,
    occurrences: int,
    window: timedelta,
    cooldown: timedelta,
    fired_at: Iterable[datetime] = (),
    eligible: set[uuid.UUID] | None = None,
) -> list[Firing]:
    """Walk `matches` (ascending by time) and return the firings of a rule.

    A per-event rule (`occurrences == 1`) fires once per match. A threshold rule fires at the match
    that brings the count within the sliding window (t - window, t] up to `occurrences`; no two
    firings of a rule are closer than `cooldown` to each other, counting the earlier firings
    `fired_at` (their window ends), so one burst gives one alert whatever order events arrive in.
    With `eligible`, only windows that end on one of those matches may fire (the new events).
    """
    firings: list[Firing] = []
    if occurrences <= 1:
        for match in matches:
            if eligible is None or match.id in eligible:
                firings.append(Firing(match, match.recorded_at, match.recorded_at, 1, (match.id,)))
        return firings

    quiet = sorted(fired_at)
    in_window: deque[Match] = deque()
    for match in matches:
        in_window.append(match)
        while in_window and in_window[0].recorded_at <= match.recorded_at - window:
            in_window.popleft()
        if len(in_window) < occurrences or (eligible is not None and match.id not in eligible):
            continue
        if _near(quiet, match.recorded_at, cooldown):
            continue
        samples = [m.id for m in in_window][: SAMPLE_SIZE - 1]
        if match.id not in samples:
            samples.append(match.id)
        firings.append(
            Firing(match, in_window[0].recorded_at, match.recorded_at, len(in_window), tuple(samples))
        )
        quiet.insert(bisect_left(quiet, match.recorded_at), match.recorded_at)
    return firings


def _near(times: list[datetime], at: datetime, cooldown: timedelta) -> bool:
    """Whether a firing in `times` (sorted) lies strictly within `cooldown` of `at`."""
    i = bisect_right(times, at - cooldown)
    return i < len(times) and times[i] < at + cooldown
