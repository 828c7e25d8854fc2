"""The database cache every web process shares (the default store of throttles and rate limits).

Its table, CACHE_TABLE, is created by iam's `cache_table` migration, so a fresh clone, the
tests and production all have it after `migrate`, with no `createcachetable` step to forget.
"""

from __future__ import annotations

import base64
import pickle
from typing import Any

from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.db import connections, models, router, transaction
from django.utils.timezone import now

CACHE_TABLE = "audit_trail_cache"


class DatabaseCache(DjangoDatabaseCache):
    """Django's database cache with an `incr` that several processes can share.

    Django's own `incr` is a get, then a set: two processes incrementing at once both write the
    same count (a throttle then lets several times its limit through), and the set gives the key
    a fresh default timeout, which turns a throttle's fixed window into a sliding one. This
    `incr` locks the row (SELECT … FOR UPDATE; SQLite's writes are serialized anyway), adds in
    place and keeps the key's expiry. `decr` is `incr` with a negative delta.
    """

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table, cache_key = quote(self._table), quote("cache_key")  # type: ignore[attr-defined]  # set by BaseDatabaseCache, not in django-stubs
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        expression = models.Expression(output_field=models.DateTimeField())
        converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote('value')}, {quote('expires')} FROM {table} WHERE {cache_key} = %s{lock}",
                [key],
            )
            row = cursor.fetchone()
            expires = row[1] if row else None
            for converter in converters:
                expires = converter(expires, expression, connection) if expires is not None else None
            if row is None or expires is None or expires < now():
                raise ValueError(f"Key '{key}' not found")
            stored = connection.ops.process_clob(row[0])
            value = pickle.loads(base64.b64decode(stored.encode(), validate=True)) + delta
            pickled = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(f"UPDATE {table} SET {quote('value')} = %s WHERE {cache_key} = %s", [pickled, key])
        return value
