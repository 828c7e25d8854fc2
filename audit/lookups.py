from __future__ import annotations

import json
from typing import Any

from django.db import NotSupportedError
from django.db.models import Lookup


class HasItem(Lookup):
    """`resources__has_item={"id": X, "type": Y}`: the JSON array holds an object with those keys.

    PostgreSQL: `@>` containment, served by the jsonb_path_ops GIN index.
    SQLite: json_each, a scan of the already organization-scoped rows (fine for dev and tests).
    """

    lookup_name = "has_item"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        raise NotSupportedError(f"has_item is not implemented for {connection.vendor}")

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} @> %s::jsonb", (*lhs_params, json.dumps([self.rhs]))

    def as_sqlite(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        where = " AND ".join(["json_extract(item.value, %s) = %s"] * len(self.rhs))
        params = [p for key, value in self.rhs.items() for p in (f'$."{key}"', value)]
        return f"EXISTS (SELECT 1 FROM json_each({lhs}) AS item WHERE {where})", (*lhs_params, *params)


class InNetwork(Lookup):
    """`source_ip__in_network="10.0.0.0/8"`: the address lies in the CIDR network.

    PostgreSQL: inet containment (`<<=`). SQLite: a Python function registered per connection.
    """

    lookup_name = "in_network"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        raise NotSupportedError(f"in_network is not implemented for {connection.vendor}")

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} <<= {rhs}::inet", (*lhs_params, *rhs_params)

    def as_sqlite(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"audit_ip_in_network({lhs}, {rhs})", (*lhs_params, *rhs_params)


def sqlite_ip_in_network(address: str | None, network: str) -> bool:
    import ipaddress

    if not address:
        return False
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "audit_ip_in_network", 2, sqlite_ip_in_network, deterministic=True
        )
