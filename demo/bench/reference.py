"""`make bench`: the reference benchmark of issue 14, on PostgreSQL with any N (10 M by default).

It takes the skewed trail of `demo.bench.trail` (loaded once per schema and N, then reused),
prints the load rate of our batch path (`record_many`) next to a raw COPY of the same kind of rows
into the same indexed table (during the load, and now with one organization per batch as
ingestion sends them), then times each filter set of the issue's table on the largest
organization, in fr-par, for four contenders, interleaved draw by draw (each draw runs every
contender of every row once, the contenders' order rotating), so that a shared machine's load
weighs on all of them alike:
- floor: the raw SQL of the view's main query (the page of rows), through a plain cursor;
- page: the whole page through Django's test client, signed in as the organization's owner;
- partial: the same with htmx's headers, the region a filter change swaps;
- admin: a Django admin changelist with default settings on the same filters (`demo.bench.urls`),
  signed in as a superuser; being the slowest by far, it runs on one draw in `admin_every`.
The windows end at the trail's newest event, not at "now", so a reused trail measures the same.

It prints p50 and p95 of each, the ratios (page ÷ floor, admin ÷ page), the targets each row
misses, and writes the whole as JSON (`.run/bench.json` by default).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import TextIOBase
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse

from alerts.rules import PRECONFIGURED_BY_NAME
from alerts.services import MAX_MATCHES, Budget, _matching
from audit.models import Event
from audit.selectors import EventQuery, event_queryset
from audit.services import Actor
from core.paging import Cursor, event_page
from demo.bench import BenchError
from demo.bench import trail as trail_module
from demo.bench.trail import (
    ADMIN,
    BATCH_EVERY,
    Trail,
    batch_size,
    ensure_trail,
    prepare_database,
    sample_ingestion,
)
from demo.bench.urls import PREFIX
from iam.logs import IAM_LOG_METHODS
from iam.models import Organization, User
from iam.services import api_key_create

REGION = "fr-par"
PAGE_SIZE = 50
PAGE_DEPTH = 100  # "page 100 by keyset"
TEXT = "stripe"  # free text: a word in resource names
# Targets (issue 14), milliseconds at p95, and the admin ratio at p50.
PAGE_TARGET = 50.0
ALERT_TARGET = 5.0
ADMIN_RATIO = 20.0
INGEST_SHARE = 0.5
SPANNING = 50  # organizations in one batch of the second ingestion sample, as in the load
CONTENDERS = ("floor", "page", "partial", "admin")


@dataclass
class Row:
    """One line of the table: a filter set and how each contender asks for it."""

    name: str
    kind: str  # events | counts | iam | iam_api | api | alert: which targets apply
    page: Callable[[], None]
    partial: Callable[[], None] | None = None
    admin: Callable[[], None] | None = None
    pick: Callable[[str], bool] = lambda sql: "LIMIT" in sql  # the main query among the page's
    floor: Callable[[], None] | None = None
    samples: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CONTENDERS})
    sql_ms: list[float] = field(default_factory=list)  # the page's time in the database, per draw
    queries: int = 0  # the page's query count


class _Recorder:
    """The SQL the database is asked to run, and the time spent waiting for it."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, Any]] = []
        self.seconds = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries.append((sql, params))
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18] if len(samples) > 1 else samples[0]


def _stats(samples: list[float]) -> dict[str, float] | None:
    if not samples:
        return None
    return {"p50": statistics.median(samples), "p95": _p95(samples), "n": len(samples)}


def _get(client: Client, url: str, headers: dict[str, str] | None = None) -> Callable[[], None]:
    def get() -> None:
        response = client.get(url, headers=headers or {})
        if response.status_code != 200:
            raise BenchError(f"{url} answered {response.status_code}: {response.content[:300]!r}")

    return get


def _floor(sql: str, params: Any) -> Callable[[], None]:
    def run() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    return run


def bench(
    *,
    events: int,
    runs: int,
    admin_every: int,
    ingest_rounds: int,
    seed: int,
    json_path: Path,
    out: TextIOBase,
) -> dict[str, Any]:
    """Ensure the trail, measure, print the table to `out`, write the JSON; return it.

    Raises BenchError when it cannot run here (not PostgreSQL, a database holding other events)
    or when a page answers an error."""
    if runs < 1 or admin_every < 1 or ingest_rounds < 0:
        raise BenchError("Need --runs >= 1, --admin-every >= 1 and --ingest-rounds >= 0.")
    started = time.perf_counter()
    prepare_database(out)
    trail = ensure_trail(events=events, seed=seed, out=out)
    ingestion = _ingestion(trail, rounds=ingest_rounds, seed=seed, out=out)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_event")
    if settings.DEBUG:
        out.write("DEBUG is on: pages render slower than in production (make bench turns it off).\n")
    with override_settings(ROOT_URLCONF="demo.bench.urls", API_RATE_LIMIT=0, DEBUG=False):
        rows = _rows(trail)
        _warm(rows)
        _draws(rows, runs=runs, admin_every=admin_every)
    report = _report(rows, trail=trail, ingestion=ingestion, runs=runs, out=out)
    report["seconds"] = round(time.perf_counter() - started, 1)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    out.write(f"\nWrote {json_path} ({report['seconds']:.0f} s in all).\n")
    return report


def _ingestion(trail: Trail, *, rounds: int, seed: int, out: TextIOBase) -> dict[str, Any]:
    size = batch_size(trail.events)
    out.write(
        f"\nIngestion into audit_event ({trail.events:,} events, every index), events/s:\n"
        f"  at load ({trail.loaded_at:%Y-%m-%d %H:%M} UTC, batches of {size:,} spanning the organizations, "
        f"one in {BATCH_EVERY} through record_many): "
        f"record_many {trail.batch_rate:,.0f}, raw COPY {trail.copy_rate:,.0f} = "
        f"{trail.batch_rate / trail.copy_rate:.0%} of COPY (per-round median {trail.ratio_median:.0%})\n"
    )
    result: dict[str, Any] = {
        "load": {
            "batch_rate": round(trail.batch_rate),
            "copy_rate": round(trail.copy_rate),
            "share": round(trail.batch_rate / trail.copy_rate, 3),
            "round_median": round(trail.ratio_median, 3),
        }
    }
    shares = []
    if rounds:
        for organizations in (1, SPANNING):
            batch_rate, copy_rate, median = sample_ingestion(
                rounds=rounds, size=size, seed=seed + organizations, organizations=organizations
            )
            shares.append(batch_rate / copy_rate)
            how = (
                "one organization per batch as ingestion sends them"
                if organizations == 1
                else f"batches spanning {organizations} organizations as a bulk load sends them"
            )
            out.write(
                f"  now, {how} ({rounds} rounds, interleaved, batches of {size:,}): record_many "
                f"{batch_rate:,.0f}, raw COPY {copy_rate:,.0f} = {shares[-1]:.0%} of COPY "
                f"(per-round median {median:.0%})\n"
            )
            result["now" if organizations == 1 else "now_spanning"] = {
                "batch_rate": round(batch_rate),
                "copy_rate": round(copy_rate),
                "share": round(shares[-1], 3),
                "round_median": round(median, 3),
            }
    else:
        shares.append(trail.batch_rate / trail.copy_rate)
    share = min(shares)
    result["share"] = round(share, 3)
    result["misses"] = (
        [] if share >= INGEST_SHARE else [f"ingestion {share:.0%} < {INGEST_SHARE:.0%} of COPY"]
    )
    return result


def _rows(trail: Trail) -> list[Row]:
    """The issue's filter sets, each with its page, partial, admin and floor."""
    organization = Organization.objects.get(name=trail_module.name(0))
    org_id = organization.pk
    end = trail.end
    hour, day, month = end - timedelta(hours=1), end - timedelta(days=1), end - timedelta(days=30)
    in_month = Event.objects.filter(organization_id=org_id, region=REGION, recorded_at__gte=month)
    # Filter values as a user would pick them: the tenth most common method, a principal of middle
    # rank, the second project, the /24 of a CI runner's network.
    top = in_month.filter(recorded_at__gte=day)
    # A small trail may have a quiet last day in this region: the month's values then stand in.
    method = _nth(_top(top, "method_name") or _top(in_month, "method_name"), 9)
    principal = _nth(_top(in_month.filter(principal_type="user"), "principal_id"), 9)
    project = _nth(
        _top(top.filter(project_id__isnull=False), "project_id")
        or _top(in_month.filter(project_id__isnull=False), "project_id"),
        1,
    )
    network = str(_nth(_top(in_month.filter(principal_type="application"), "source_ip"), 0))
    network = network.rsplit(".", 1)[0] + ".0/24"

    owner = organization.owner
    console = Client(HTTP_HOST="localhost")
    console.force_login(owner)
    admin_user = User.objects.get(email=ADMIN)
    staff = Client(HTTP_HOST="localhost")
    staff.force_login(admin_user)
    _, secret = api_key_create(
        actor=Actor.system(), organization=organization, user=owner, description="bench"
    )
    api = Client(HTTP_HOST="localhost", HTTP_X_AUTH_TOKEN=secret)

    events_url = reverse("audit:events")
    admin_url = f"{PREFIX}audit/event/"
    htmx = {"HX-Request": "true", "HX-Target": "results"}

    def window(after: datetime) -> dict[str, str]:
        return {"region": REGION, "range": "custom", "after": after.isoformat(), "before": end.isoformat()}

    def admin_window(after: datetime) -> dict[str, str]:
        return {
            "organization_id": str(org_id),
            "region": REGION,
            "recorded_at__gte": after.isoformat(),
            "recorded_at__lt": end.isoformat(),
        }

    def events_row(name: str, page: dict[str, str], admin: dict[str, str]) -> Row:
        url = f"{events_url}?{urlencode(page)}"
        return Row(
            name,
            "events",
            page=_get(console, url),
            partial=_get(console, url, htmx),
            admin=_get(staff, f"{admin_url}?{urlencode(admin)}"),
        )

    def counts_row(name: str, page: dict[str, str]) -> Row:
        return Row(
            name,
            "counts",
            page=_get(
                console,
                f"{reverse('audit:event_timeline')}?{urlencode(page)}",
                {"HX-Request": "true", "HX-Target": "timeline"},
            ),
            pick=lambda sql: "bucket" in sql,
        )

    deep, depth = _deep_cursor(org_id, month, end)
    rows = [
        events_row("last hour (default)", window(hour), admin_window(hour)),
        events_row("1 day", window(day), admin_window(day)),
        events_row(
            "1 day + method", window(day) | {"method": method}, admin_window(day) | {"method_name": method}
        ),
        events_row(
            "1 day + principal",
            window(day) | {"principal": str(principal)},
            admin_window(day) | {"principal_id": str(principal)},
        ),
        events_row(
            "1 day + project",
            window(day) | {"project": str(project)},
            admin_window(day) | {"project_id": str(project)},
        ),
        events_row(
            "1 day + status 403", window(day) | {"status": "403"}, admin_window(day) | {"status_code": "403"}
        ),
        events_row("30 days", window(month), admin_window(month)),
        events_row(
            f"30 days, page {depth} by keyset",
            window(month) | {"cursor": deep.encode()},
            # The admin's 100-row pages: its page 50 ends where our page 100 does.
            admin_window(month) | {"p": str(max(1, depth * PAGE_SIZE // 100))},
        ),
        events_row(
            "30 days + IP CIDR /24",
            window(month) | {"ip": network},
            admin_window(month) | {"source_ip__in_network": network},
        ),
        # An IP network's page and a search's show their rows without counting their matches;
        # each asks for its timeline and total right after, in a request of its own
        # (`audit:event_timeline`), timed here.
        counts_row("  its counts, after (/24)", window(month) | {"ip": network}),
        events_row(
            f"30 days + free text “{TEXT}”", window(month) | {"q": TEXT}, admin_window(month) | {"q": TEXT}
        ),
        counts_row("  its counts, after (text)", window(month) | {"q": TEXT}),
    ]
    iam_url = reverse("iam:logs")
    rows.append(
        Row(
            "IAM Logs tab",
            "iam",
            page=_get(console, iam_url),
            partial=_get(console, iam_url, htmx),
            admin=_get(
                staff,
                f"{admin_url}?"
                + urlencode(
                    {
                        "organization_id": str(org_id),
                        "product_name": "iam",
                        "status_code": "200",
                        "method_name__in": ",".join(IAM_LOG_METHODS),
                    }
                ),
            ),
        )
    )
    rows.append(
        Row(
            "IAM API list_logs (newest first)",
            "iam_api",
            page=_get(api, "/iam/v1alpha1/logs?order_by=created_at_desc"),
        )
    )
    rows.append(
        Row(
            "ListEvents API, last hour",
            "api",
            page=_get(
                api,
                f"/audit-trail/v1alpha1/regions/{REGION}/events?"
                + urlencode({"recorded_after": hour.isoformat(), "recorded_before": end.isoformat()}),
            ),
        )
    )
    rows.append(_alert_row(org_id, end))
    return rows


def _top(qs: Any, column: str) -> list[Any]:
    """The values of `column` in `qs`, most frequent first (the first twenty)."""
    return list(qs.values(column).annotate(n=Count("id")).order_by("-n").values_list(column, flat=True)[:20])


def _nth(values: list[Any], n: int) -> Any:
    """The n-th most frequent value, or the last there is on a small trail."""
    if not values:
        raise BenchError("The trail is too small for the filter sets: load more events (N).")
    return values[min(n, len(values) - 1)]


def _deep_cursor(org_id: Any, after: datetime, before: datetime) -> tuple[Cursor, int]:
    """The cursor the Events page's "Older" link carries to page 100 of the 30 days (fewer on a
    small trail), and that page's number."""
    query = EventQuery(region=REGION, recorded_after=after, recorded_before=before)
    cursor: Cursor | None = None
    depth = 1
    for _ in range(PAGE_DEPTH - 1):
        older = event_page(
            event_queryset(organization_id=org_id, query=query),
            cursor=cursor,
            page_size=PAGE_SIZE,
            numbered=True,
        ).next_cursor
        if older is None:
            break
        cursor, depth = older, depth + 1
    if cursor is None:
        raise BenchError("The 30 days hold a single page: load more events (N).")
    return cursor, depth


def _alert_row(org_id: Any, end: datetime) -> Row:
    """HttpForbiddenErrorRateHigh's threshold query for the newest 403, as the rule's evaluation
    runs it (`alerts.services._matching`: the 403s within 5 minutes either side, through the ORM);
    the floor is its SQL."""
    rule = PRECONFIGURED_BY_NAME["HttpForbiddenErrorRateHigh"]
    newest = (
        Event.objects.filter(organization_id=org_id, region=REGION, status_code=403, recorded_at__lt=end)
        .order_by("-recorded_at")
        .values_list("recorded_at", flat=True)
        .first()
    )
    if newest is None:
        raise BenchError("No 403 in the trail: load more events (N).")
    around = Event.objects.filter(
        organization_id=org_id,
        region=REGION,
        recorded_at__gte=newest - rule.window,
        recorded_at__lte=newest + rule.window,
    )

    def evaluate() -> None:
        _matching(rule, around, limit=MAX_MATCHES, budget=Budget())

    return Row("alert threshold (403s in 5 min)", "alert", page=evaluate, pick=lambda sql: True)


def _warm(rows: list[Row]) -> None:
    """One untimed run of each contender (caches, plans, lazy imports), which also records the
    page's queries and picks its main query for the floor."""
    for row in rows:
        recorder = _Recorder()
        with connection.execute_wrapper(recorder):
            row.page()
        row.queries = len(recorder.queries)
        main = [q for q in recorder.queries if '"audit_event"' in q[0] and row.pick(q[0])]
        if main:
            row.floor = _floor(*main[0])
            row.floor()
        if row.partial:
            row.partial()
        if row.admin:
            row.admin()


def _draws(rows: list[Row], *, runs: int, admin_every: int) -> None:
    for draw in range(runs):
        for row in rows:
            contenders = {"floor": row.floor, "page": row.page, "partial": row.partial}
            if draw % admin_every == 0:
                contenders["admin"] = row.admin
            order = [c for c in CONTENDERS if contenders.get(c)]
            shift = draw % len(order)
            for name in order[shift:] + order[:shift]:
                call = contenders[name]
                assert call is not None
                if name == "page":
                    recorder = _Recorder()
                    with connection.execute_wrapper(recorder):
                        start = time.perf_counter()
                        call()
                        row.samples[name].append((time.perf_counter() - start) * 1000)
                    row.sql_ms.append(recorder.seconds * 1000)
                else:
                    start = time.perf_counter()
                    call()
                    row.samples[name].append((time.perf_counter() - start) * 1000)


def _misses(row: Row, stats: dict[str, dict[str, float] | None]) -> list[str]:
    page, partial, admin = stats["page"], stats["partial"], stats["admin"]
    assert page is not None
    misses = []
    limit = ALERT_TARGET if row.kind == "alert" else PAGE_TARGET
    if row.kind in ("events", "counts", "iam", "iam_api", "alert") and page["p95"] > limit:
        misses.append(f"page p95 > {limit:g} ms")
    if row.kind in ("events", "iam") and partial is not None and partial["p95"] > PAGE_TARGET:
        misses.append(f"partial p95 > {PAGE_TARGET:g} ms")
    if admin is not None and admin["p50"] / page["p50"] < ADMIN_RATIO:
        misses.append(f"< {ADMIN_RATIO:g}× admin")
    return misses


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _at(stats: dict[str, float] | None, key: str) -> float | None:
    return None if stats is None else stats[key]


def _report(
    rows: list[Row], *, trail: Trail, ingestion: dict[str, Any], runs: int, out: TextIOBase
) -> dict[str, Any]:
    out.write(
        f"\nLargest organization ({trail_module.name(0)}), {REGION}; {runs} draws, admin on "
        f"{max((len(r.samples['admin']) for r in rows), default=0)}; milliseconds. "
        f"Load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.\n"
    )
    header = (
        f"{'filter set':<34} {'floor p50':>9} {'page p50':>9} {'p95':>7} {'partial p50':>11} {'p95':>7} "
        f"{'admin p50':>9} {'page÷floor':>10} {'admin÷page':>10} {'in SQL':>7} {'queries':>7}  misses\n"
    )
    out.write(header)
    table = []
    for row in rows:
        stats = {c: _stats(row.samples[c]) for c in CONTENDERS}
        page = stats["page"]
        assert page is not None
        floor, partial, admin = stats["floor"], stats["partial"], stats["admin"]
        misses = _misses(row, stats)
        over_floor = page["p50"] / floor["p50"] if floor else None
        over_page = admin["p50"] / page["p50"] if admin else None
        sql = statistics.median(row.sql_ms)
        out.write(
            f"{row.name:<34} {_fmt(_at(floor, 'p50')):>9} {_fmt(page['p50']):>9} {_fmt(page['p95']):>7} "
            f"{_fmt(_at(partial, 'p50')):>11} {_fmt(_at(partial, 'p95')):>7} {_fmt(_at(admin, 'p50')):>9} "
            f"{(f'{over_floor:.1f}×' if over_floor else '—'):>10} {(f'{over_page:.1f}×' if over_page else '—'):>10} "
            f"{_fmt(sql):>7} {row.queries:>7}  {', '.join(misses) or 'ok'}\n"
        )
        table.append(
            {
                "name": row.name,
                "kind": row.kind,
                **{c: stats[c] for c in CONTENDERS},
                "page_over_floor": over_floor,
                "admin_over_page": over_page,
                "page_sql_p50": sql,
                "page_queries": row.queries,
                "misses": misses,
            }
        )
    missed = [r["name"] for r in table if r["misses"]] + (["ingestion"] if ingestion["misses"] else [])
    out.write(
        f"\nIngestion: record_many at {ingestion['share']:.0%} of raw COPY at worst "
        f"({'ok' if not ingestion['misses'] else 'misses ≥ 50%'}).\n"
        f"Targets: Events pages and partials p95 ≤ {PAGE_TARGET:g} ms, IAM Logs page and API ≤ {PAGE_TARGET:g} ms, "
        f"≥ {ADMIN_RATIO:g}× faster than the admin (p50), alert threshold ≤ {ALERT_TARGET:g} ms, "
        f"ingestion ≥ {INGEST_SHARE:.0%} of COPY. "
        + (f"{len(missed)} of {len(table) + 1} rows miss one." if missed else "All met.")
        + "\n"
    )
    return {
        "when": datetime.now(UTC).isoformat(),
        "events": trail.events,
        "trail_end": trail.end.isoformat(),
        "region": REGION,
        "draws": runs,
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "ingestion": ingestion,
        "rows": table,
        "targets": {
            "page_p95_ms": PAGE_TARGET,
            "alert_p95_ms": ALERT_TARGET,
            "admin_ratio": ADMIN_RATIO,
            "ingestion_share": INGEST_SHARE,
        },
        "missed": missed,
    }
