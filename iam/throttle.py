"""Fixed-window counters in the shared cache, for the login throttle and the API rate limit.

A counter is counted before the work it guards (`hit`, then compare with the limit), never
checked first and counted after: concurrent requests in several processes each get their own
count, so exactly the limit gets through. The cache is one store for every process (the
database, or Redis): see CACHES in config/settings.py.
"""

from __future__ import annotations

from django.core.cache import cache


def hit(key: str, *, window: int) -> int:
    """Count one more hit on `key` and return the count, the first hit opening a window of
    `window` seconds. Atomic across processes: cache.incr, and cache.add to open the window
    (of two processes opening it at once, one adds and both increment)."""
    for _ in range(2):
        try:
            count: int = cache.incr(key)
        except ValueError:  # no window open (or it closed just now): open one
            cache.add(key, 0, timeout=window)
            continue
        if count == 1:
            # We opened the window. Redis's INCR recreates a key that expired between its
            # existence check and the increment without any expiry: give it one.
            cache.touch(key, timeout=window)
        return count
    return 1  # the window closed twice in a row under us: count this hit as its first


def give_back(key: str) -> None:
    """Undo one hit (an attempt that turned out legitimate). No window, nothing to undo."""
    try:
        cache.decr(key)
    except ValueError:
        pass


def clear(key: str) -> None:
    cache.delete(key)
