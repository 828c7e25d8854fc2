"""What every app may use and that imports no app (only Django and the standard library): typed
requests and the client's address, time formatting, regions, ids and paging primitives.
`make lint` holds it to that (import-linter) and to mypy's strict mode."""

from __future__ import annotations

# The platform's own principal, as Scaleway names it wherever a principal is shown: events it
# records (default groups, disabled rules) and IAM logs.
SCALEWAY = "Scaleway"
