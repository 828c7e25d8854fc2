"""The Events page: one URL and one template, with the detail drawer at its own URL.

htmx asks for a region by id (`HX-Target`): `results` (filters, sort, pages, timeline) or
`drawer` (one event). Everything else, history restores included, gets the whole page.
"""

from __future__ import annotations

import functools
import math
import re
import uuid
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import quote_plus, urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from audit import catalogue
from audit.forms import (
    CUSTOM,
    RANGE_LABELS,
    RANGES,
    SIGN_IN_RANGE_LABELS,
    STATUS_CHOICES,
    TODAY,
    YESTERDAY,
    EventFilterForm,
    SignInFilterForm,
)
from audit.models import AuthenticationEvent, Event
from audit.selectors import (
    BURST_FAILURES,
    BURST_SPAN,
    FACET_SCAN,
    Facets,
    Timeline,
    earlier,
    event_facets,
    event_get,
    event_queryset,
    event_timeline,
    events_with_principals,
    facet_scan_bound,
    later,
    project_list,
    sign_in_failed_sources,
    sign_in_queryset,
)
from audit.serializers import event_json
from audit.templatetags.audit_extras import iso_utc, short_id, status_badge
from core.html import escaped as _e
from core.paging import EventPage, event_page
from core.regions import DEFAULT_REGION, REGION_CHOICES, REGIONS
from core.replication import shown_as_of
from core.time import ago, utc_offset, with_offset
from iam.http import ConsoleRequest
from iam.permissions import permission_required, request_may

TEMPLATE = "audit/event_list.html"
FACETS_TEMPLATE = "audit/event_facets.html"  # the grid (`event_facet_list`), a page without htmx
FACETS_COOKIE = "facets"  # "open" or "closed": whether the reader keeps the top values unfolded
PAGE_SIZE = 50
AROUND = timedelta(minutes=5)  # "around this time": five minutes either side
SAME_REQUEST = timedelta(hours=1)  # one request's events are seconds apart; an hour is generous
PRESET_ORDER = ("1h", "24h", "7d", "30d")
BAR_PITCH = 10  # SVG units per timeline bucket (the chart stretches to the page's width)
# Up to this many matching events the page says exactly how many; past it, "10,000+" and about
# how many. The timeline's buckets count every match anyway, so neither costs a query.
EXACT_COUNT_CAP = 10_000
# How many matches the counts request of a search or an IP network reads before it stops and
# gives the database's estimate instead (`event_timeline_list`). A search's each cost a read of
# the row (~1 s for a month's 70,600 "stripe" at 10 M, 0.3 s bounded); a network's come off an
# index range (37,000 in 24 ms), so it counts further.
TEXT_COUNT_BOUND = 10_000
NETWORK_COUNT_BOUND = 50_000
# The counts request's parameter that counts every match, past the bound (a user's click).
EXACT_PARAM = "exact"
AXIS_TICKS = 4  # the timeline's time axis is labelled at its ends and at each quarter
MIN_BAR = 7  # of 100: a bucket with any event stands at least 4-5 px tall on the 64-px chart


@require_safe
@login_required
@permission_required("audit_trail:read", method="ListEvents")
@vary_on_headers("HX-Request", "HX-Target")
def event_list(request: ConsoleRequest) -> HttpResponse:
    return _events_page(request, event=None)


@require_safe
@login_required
@permission_required("audit_trail:read", method="GetEvent")
@vary_on_headers("HX-Request", "HX-Target")
def event_detail(request: ConsoleRequest, event_id: uuid.UUID) -> HttpResponse:
    assert request.organization is not None  # permission_required guarantees it
    event = event_get(organization_id=request.organization.pk, event_id=event_id)
    if event is None:
        # Another organization's id, or none at all: nothing to see, and nothing to confirm.
        raise Http404("No such event.")
    return _events_page(request, event=event)


@require_safe
@login_required
@permission_required("audit_trail:read", method="ListEvents")
@vary_on_headers("HX-Request")
def event_timeline_list(request: ConsoleRequest) -> HttpResponse:
    """The Events page's timeline and total for its filters (its query string), when the page
    itself does not count them (`EventQuery.counts_unbounded`): a free-text search, whose
    matches no index counts (each trigram candidate is read again to check it), so counting a
    month of them in a busy organization takes most of a second, or an IP network, whose matches
    may be as many as the window's. The page shows its rows at once and asks for this with htmx; the answer
    replaces the "Counting…" placeholder and, out of band, the total above the rows. Without
    htmx (the placeholder's link without script) it is the whole Events page, counted."""
    if not request.htmx or request.htmx.history_restore_request:
        return _events_page(request, event=None, count=True)
    organization = request.organization
    assert organization is not None  # permission_required guarantees it
    form = EventFilterForm(request.GET, projects=project_list(organization=organization), now=timezone.now())
    context: dict[str, Any] = {"form": form, "oob": True}
    if form.is_valid():
        query = form.to_query()
        after, before = form.window()
        qs = event_queryset(
            organization_id=organization.pk,
            query=query,
            now=form.now,
            recorded_names=request_may(request, "iam:read"),
            replica=True,
        )
        # Up to the bound, every match counted and charted; past it, the database's estimate, and
        # a button that asks again for every match to be counted ("exact").
        exact = request.GET.get(EXACT_PARAM) == "1"
        timeline = event_timeline(
            qs,
            organization_id=organization.pk,
            query=query,
            start=after,
            end=before,
            bound=None if exact else (TEXT_COUNT_BOUND if query.text else NETWORK_COUNT_BOUND),
        )
        context |= _timeline_context(request, timeline, exact=exact)
        if timeline.more_than is not None:
            context["exact_url"] = reverse("audit:event_timeline") + _query(request.GET, **{EXACT_PARAM: "1"})
    return render(request, f"{TEMPLATE}#timeline", context)


def _events_page(request: ConsoleRequest, *, event: Event | None, count: bool = False) -> HttpResponse:
    organization = request.organization
    assert organization is not None
    projects = project_list(organization=organization)
    form = EventFilterForm(request.GET, projects=projects, now=timezone.now())
    target = request.htmx.target if request.htmx and not request.htmx.history_restore_request else None
    context: dict[str, Any] = {
        "nav": "audit",
        "tab": "events",
        "form": form,
        "region": form.selected_region,
        "regions": REGIONS,
        "utc_offset": utc_offset(form.now),
        # Rows link to the drawer with the list's own query, so closing it lands on the same page.
        "list_query": _query(request.GET),
    }
    if event is not None or target == "drawer":
        context |= _drawer_context(request, event, projects)
    if target == "drawer":
        return render(request, f"{TEMPLATE}#drawer", context)
    context |= _results_context(request, form, count=count)
    if target == "results":
        context["oob_method"] = True
        return render(request, f"{TEMPLATE}#results", context)
    return render(request, TEMPLATE, context)


def _results_context(
    request: ConsoleRequest, form: EventFilterForm, *, count: bool = False
) -> dict[str, Any]:
    """The list's rows, pages and sort, and its timeline and total: counted here, or, for a
    free-text search or an IP network (`EventQuery.counts_unbounded`, unless `count`), by a
    request of their own after the page (`event_timeline_list`), so that the rows never wait
    for counting every match."""
    if not form.is_valid():
        return {"invalid": True}
    assert request.organization is not None  # permission_required guarantees it
    query = form.to_query()
    after, before = form.window()
    # Names recorded at the time are principal details: shown (and searched) with `iam:read`.
    recorded_names = request_may(request, "iam:read")
    qs = event_queryset(
        organization_id=request.organization.pk,
        query=query,
        now=form.now,
        recorded_names=recorded_names,
        replica=True,
    )
    page: EventPage[Event] = event_page(
        qs,
        order="asc" if form.selected_order == "recorded_at" else "desc",
        cursor=form.page_cursor,
        page_size=PAGE_SIZE,
        numbered=True,
    )
    events_with_principals(
        organization=request.organization, events=page.events, recorded_names=recorded_names
    )
    context: dict[str, Any] = {
        "page": page,
        "rows": _event_rows(page.events, params=request.GET, now=form.now),
        "window_start": after,
        "window_end": before,
        "window_label": _window_label(form, after, before),
        # Read from a standby that lags: the list shows the trail as of then (docs/replicas.md).
        "as_of": shown_as_of(qs.db),
        "newer_url": _url(request.GET, cursor=page.previous_cursor.encode())
        if page.previous_cursor
        else None,
        "older_url": _url(request.GET, cursor=page.next_cursor.encode()) if page.next_cursor else None,
        "first_url": _url(request.GET, cursor=None) if form.page_cursor else None,
        "sort_url": _url(
            request.GET,
            order="recorded_at" if form.selected_order == "-recorded_at" else None,
            cursor=None,
        ),
    }
    if query.counts_unbounded and page.events and not count:
        context["timeline_url"] = reverse("audit:event_timeline") + _query(request.GET)
    else:
        timeline = event_timeline(
            qs, organization_id=request.organization.pk, query=query, start=after, end=before
        )
        # The counts request's "Count them all", followed without script: the exact total.
        context |= _timeline_context(request, timeline, exact=count and request.GET.get(EXACT_PARAM) == "1")
    if page.events:
        # Only the panel's summary: its grid comes in a request of its own (`event_facet_list`),
        # so the page never waits for the top values, folded or not.
        context["facets_open"] = request.COOKIES.get(FACETS_COOKIE) == "open"
    else:
        context |= _empty_state(request, form, after, before)
    return context


def _timeline_context(request: ConsoleRequest, timeline: Timeline, *, exact: bool = False) -> dict[str, Any]:
    """The timeline's chart and the total it counts: exact up to EXACT_COUNT_CAP, then rounded
    and labelled "about", unless the user asked for every match to be counted (`exact`); past a
    bound, the database's estimate (`Timeline.more_than`)."""
    if timeline.more_than is not None:
        estimate = timeline.estimate if timeline.estimate and timeline.estimate > timeline.more_than else None
        return {
            "timeline": timeline,
            "total": timeline.more_than + 1,
            "total_label": f"{timeline.more_than:,}+",
            "counted_label": f"{timeline.more_than:,}",
            "total_estimate": f"{_about(estimate)}, estimated by the database" if estimate else None,
        }
    total = timeline.total
    return {
        "timeline": timeline,
        "bars": _bars(request, timeline),
        "chart_width": len(timeline.buckets) * BAR_PITCH,
        "axis": _axis(timeline),
        "y_mid": round(timeline.peak / 4) if timeline.peak >= 8 else None,
        "total": total,
        "total_label": f"{total:,}" if total < EXACT_COUNT_CAP or exact else f"{EXACT_COUNT_CAP:,}+",
        "total_estimate": _about(total) if total >= EXACT_COUNT_CAP and not exact else None,
    }


def _about(count: int) -> str:
    """`about 12,000`, `about 1.2 million`: two significant figures, for counts past the cap."""
    if count >= 1_000_000:
        return f"about {round(count / 1_000_000, 1):g} million"
    digits = len(str(count)) - 2
    return f"about {round(count, -digits):,}"


class _Pivots:
    """Links that narrow the current list to one value of a row (its IP, principal, method...):
    the list's own query with that filter added, back on the first page. The query is read and
    encoded once; a link to a filter the list does not have yet encodes only that filter, and a
    page's rows share most values (a principal's many events), so each link is worked out once
    per page. The URL is the same `urlencode(base | filters)` would give: a new key goes last."""

    def __init__(self, params: QueryDict) -> None:
        self.base = {k: cast(str, v) for k, v in params.items() if v and k != "cursor"}
        self.path = reverse("audit:events")
        self.prefix = f"{self.path}?{urlencode(self.base)}&" if self.base else f"{self.path}?"
        self.links: dict[tuple[tuple[str, str], ...], str] = {}

    def __call__(self, **filters: str) -> str:
        key = tuple(filters.items())
        link = self.links.get(key)
        if link is None:
            if self.base.keys().isdisjoint(filters):
                # urlencode's own text: the keys are the filters' names, which need no quoting.
                link = self.prefix + "&".join(f"{k}={quote_plus(v)}" for k, v in filters.items())
            else:  # the list already filters on it: the value takes that key's place
                link = f"{self.path}?{urlencode(self.base | filters)}"
            self.links[key] = link
        return link

    def product(self, name: str) -> str | None:
        # Only what the filter accepts: an ingested event may name a product the catalogue lacks.
        return self(product=name) if catalogue.product(name) else None

    def method(self, product_name: str, method: str) -> str | None:
        """The method within its product (the method drop-down then lists that product's), or
        alone when the product is not one the filters know."""
        product = catalogue.product(product_name)
        if product and method in product.methods:
            return self(product=product_name, method=method)
        return self(method=method) if method in _KNOWN_METHODS else None

    def resource(self, type_: object, id_: object) -> str | None:
        """The resource by type and ID, or by ID alone when its type is not one the filter lists;
        none for an ID longer than the filter takes."""
        if not id_ or len(str(id_)) > RESOURCE_ID_MAX:
            return None
        if type_ in _KNOWN_TYPES:
            return self(resource_type=str(type_), resource_id=str(id_))
        return self(resource_id=str(id_))


_KNOWN_METHODS = frozenset(catalogue.methods())
_KNOWN_TYPES = frozenset(catalogue.RESOURCE_TYPES)
RESOURCE_ID_MAX = 128  # EventFilterForm.resource_id's max_length


@functools.cache
def _breakable(method: str) -> str:
    """`CreateSecret<wbr>Version`: a catalogue method name that may wrap between its words in a
    narrow column. Cached: there are some 240 such names."""
    return mark_safe(
        "<wbr>".join(escape(word) for word in re.findall(r"[A-Z]*[^A-Z]*", method) if word)
    )  # each word is escaped


def _event_rows(events: list[Event], *, params: QueryDict, now: datetime) -> list[dict[str, Any]]:
    """What each row of the Events table shows, worked out once per event so that the row template
    only places values (a template tag or filter per cell made the table a third slower).

    Each row links to its drawer with the list's own query, so closing it lands on this page, and
    each of its principal, product, method, resource and IP to the list narrowed to that value.
    """
    list_query = _query(params)
    pivot = _Pivots(params)
    # One reverse() for the page: each row's drawer URL differs only by its event's id.
    blank = uuid.UUID(int=0)
    drawer_head, drawer_tail = reverse("audit:event", args=[blank]).split(str(blank))
    rows = []
    for event in events:
        at = event.recorded_at
        resources = event.resources or []
        first = resources[0] if resources else None
        # As a template would: a missing key (or a malformed entry) shows as nothing.
        resource = first if isinstance(first, dict) else {}
        method_url = pivot.method(event.product_name, event.method_name)
        rows.append(
            {
                "event": event,
                "url": f"{drawer_head}{event.pk}{drawer_tail}{list_query}",
                "at": with_offset(at),
                "iso": iso_utc(at),
                "ago": ago(at, now),
                "principal_url": pivot(principal=str(event.principal_id)) if event.principal_id else None,
                "product_url": pivot.product(event.product_name),
                "method_url": method_url,
                "method_html": _breakable(event.method_name) if method_url else "",
                "ip_url": pivot(ip=event.source_ip) if event.source_ip else None,
                "resource_url": pivot.resource(resource.get("type"), resource.get("id")),
                "principal": event.principal_label,  # type: ignore[attr-defined]  # events_with_principals
                "resource": {
                    "type": resource.get("type", ""),
                    "id": resource.get("id", ""),
                    "name": resource.get("name", ""),
                    "short_id": short_id(resource.get("id", ""), 12),
                }
                if first
                else None,
                "more": max(len(resources) - 1, 0),
                "ipv6": ":" in (event.source_ip or ""),
            }
        )
    for i, row in enumerate(rows):
        row["html"] = _row_html(row, "odd" if i % 2 else "even")
    return rows


def _principal_cell(row: dict[str, Any]) -> str:
    label = row["principal"]
    if label.kind == "system":
        return '<span class="principal principal-system" title="An action of the Scaleway platform">Scaleway</span>'
    if label.is_unknown:
        cell = (
            f'<a class="pivot" href="{_e(row["principal_url"])}"><span class="principal principal-unknown">Unknown'
            f'</span> <code class="principal-id" title="Principal ID {_e(label.principal_id)}">'
            f"{_e(short_id(label.principal_id))}</code></a>"
        )
        if label.former_name:
            cell += (
                f' <span class="former-name" title="Recorded as {_e(label.former_name)}, no longer in the '
                f'organization">{_e(label.former_name)} <span class="kind-tag">former member</span></span>'
            )
        return cell
    if label.principal_id:
        app = ' <span class="kind-tag">app</span>' if label.kind == "application" else ""
        return (
            f'<a class="pivot" href="{_e(row["principal_url"])}"><span class="principal" '
            f'title="{_e(label.kind)} {_e(label.principal_id)}">{_e(label.name)}</span>{app}</a>'
        )
    return f'<span class="principal principal-anonymous">{_e(label.name)}</span>'


def _resource_cell(row: dict[str, Any]) -> str:
    resource = row["resource"]
    if not resource:
        return '<span class="muted">—</span>'
    kind, id_, name = _e(resource["type"]), _e(resource["id"]), resource["name"]
    shown = _e(name) if name else f"<code>{_e(resource['short_id'])}</code>"
    cell = f'<span class="resource" title="{kind} {id_}"><span class="resource-type">{kind}</span> {shown}</span>'
    if row["resource_url"]:
        named = f" ({_e(name)})" if name else ""
        cell = f'<a class="pivot" href="{_e(row["resource_url"])}" title="Only events on {kind} {id_}{named}">{cell}</a>'
    if row["more"]:
        cell += f' <span class="more">+{_e(row["more"])}</span>'
    return cell


def _row_html(row: dict[str, Any], parity: str) -> SafeString:
    """One row of the Events table, as the page's hottest loop once rendered it from a template
    (`{% for row in rows %}`): built here it costs a tenth of that. The values are escaped as
    the template escaped them; `tests/audit/test_event_table.py` holds the markup to its word."""
    event = row["event"]
    url, at = _e(row["url"]), _e(row["at"])
    product = _e(event.product_name)
    if row["product_url"]:
        product_cell = (
            f'<a class="pivot" href="{_e(row["product_url"])}" title="Only events of {product}">{product}</a>'
        )
    else:
        product_cell = f'<span title="{product}">{product}</span>'
    if row["method_url"]:
        method_cell = (
            f'<a class="pivot" href="{_e(row["method_url"])}" title="Only {_e(event.method_name)} events '
            f'({_e(event.service_name)})"><span class="method">{_e(row["method_html"])}</span></a>'
        )
    else:
        method_cell = f'<span class="method" title="{_e(event.service_name)}">{_e(event.method_name)}</span>'
    if not event.source_ip:
        ip_cell = '<span class="muted">—</span>'
    else:
        ip = _e(event.source_ip)
        shown = f'<span class="ipv6">{ip}</span>' if row["ipv6"] else ip
        ip_cell = f'<a class="pivot" href="{_e(row["ip_url"])}" title="Only events from {ip}">{shown}</a>'
    denied = "row-denied " if event.is_denied else ""
    return mark_safe(  # every value above is escaped (`_e`) or already safe
        f'\n                <tr class="{denied}{parity}" data-event-id="{_e(event.pk)}"><td class="col-date">'
        f'<a class="event-link" href="{url}" hx-get="{url}" hx-target="#drawer" hx-swap="outerHTML" '
        f'hx-push-url="true" aria-label="Open event {_e(event.method_name)} at {at}"><time datetime="'
        f'{_e(row["iso"])}">{at}</time></a> <span class="ago">{_e(row["ago"])}</span></td>\n'
        f'                  <td class="col-principal">{_principal_cell(row)}</td>\n'
        f'                  <td class="col-product">{product_cell}</td>\n'
        f'                  <td class="col-method">{method_cell}</td>\n'
        f'                  <td class="col-resources">{_resource_cell(row)}</td>\n'
        f'                  <td class="col-ip mono">{ip_cell}</td>\n'
        f'                  <td class="col-status">{status_badge(event)}</td>\n'
        "                </tr>\n              "
    )


def _empty_state(
    request: ConsoleRequest, form: EventFilterForm, after: datetime, before: datetime
) -> dict[str, Any]:
    project = form.selected_project
    message = f"No events in {form.selected_region}"
    message += f" for {project.name}" if project else " for all projects"
    message += f" {_window_label(form, after, before, lowercase=True)}"
    if form.narrowing:
        message += " that match these filters"
    context: dict[str, Any] = {"empty_message": message + "."}
    span = before - after
    wider = next((key for key in PRESET_ORDER if RANGES[key] > span), None)
    if form.range_key in PRESET_ORDER:
        current = PRESET_ORDER.index(form.range_key)
        wider = PRESET_ORDER[current + 1] if current + 1 < len(PRESET_ORDER) else None
    if wider:
        context["widen_url"] = _url(request.GET, range=wider, after=None, before=None, cursor=None)
        context["widen_label"] = RANGE_LABELS[wider].lower()
    if form.narrowing:
        context["clear_url"] = _url(request.GET, **dict.fromkeys(form.narrowing), cursor=None)
    return context


def _window_label(
    form: EventFilterForm, after: datetime, before: datetime, *, lowercase: bool = False
) -> str:
    if form.range_key == CUSTOM:
        return f"between {with_offset(after, 'minutes')} and {with_offset(before, 'minutes')}"
    if form.range_key in (TODAY, YESTERDAY):
        # A calendar day is the reader's own: say where it starts, offset included.
        since = f"since {with_offset(after, 'minutes')}"
        if form.range_key == YESTERDAY:
            since = f"{with_offset(after, 'minutes')} to {with_offset(before, 'minutes')}"
        day = form.range_key if lowercase else RANGE_LABELS[form.range_key]
        return f"{day} ({since})"
    label = RANGE_LABELS[form.range_key]
    return f"in the {label[0].lower()}{label[1:]}" if lowercase else label


def _height(count: int, peak: int) -> float:
    """A bar's height on the chart's square-root scale (100 for the peak): a burst of 300 in one
    bucket leaves a bucket of 10 at 18, not at 3, so a quiet day beside a spike still reads."""
    if not count:
        return 0
    # A bucket with any event keeps a visible sliver, however tall the peak.
    return max(round(math.sqrt(count / peak) * 100, 2), MIN_BAR)


def _axis(timeline: Timeline) -> list[dict[str, Any]]:
    """The time axis's labels, at the chart's ends and quarters: full date and offset at the ends,
    the time between. A quarter's label names the bucket edge nearest to it (at most half a bar
    off), so it reads 21:00 rather than 21:07."""
    if not timeline.buckets:
        return []
    count = len(timeline.buckets)
    first, last = timeline.buckets[0].start, timeline.buckets[-1].end
    span = last - first
    ticks = []
    for i in range(AXIS_TICKS + 1):
        at = later(first, timeline.width * round(count * i / AXIS_TICKS))  # later(): not past year 9999
        if i in (0, AXIS_TICKS):
            text = with_offset(at, "minutes")
        else:
            local = timezone.localtime(at)
            text = local.strftime("%m-%d %H:%M" if span > timedelta(days=1) else "%H:%M")
        ticks.append({"iso": iso_utc(at), "text": text})
    return ticks


def _bars(request: ConsoleRequest, timeline: Timeline) -> list[dict[str, Any]]:
    """SVG geometry for each bucket with events (a 100-unit-high chart), its tooltip and the link
    that zooms into it. Empty buckets draw nothing: the bars keep their x, so gaps stay gaps."""
    peak = max(timeline.peak, 1)
    width = BAR_PITCH
    # Each bar's link is the list's query with its own window: encoded once, the times filled in.
    zoom = _QueryPattern(request.GET, range=CUSTOM, after=_SLOT, before=_SLOT, cursor=None)
    base = reverse("audit:events")
    bars = []
    for i, bucket in enumerate(timeline.buckets):
        if not bucket.total:
            continue
        total_h = _height(bucket.total, peak)
        # The 403s, stacked at the bottom, take their share of the bar (a sqrt of each would not add up).
        denied_h = max(round(total_h * bucket.denied / bucket.total, 2), MIN_BAR / 2) if bucket.denied else 0
        title = (
            f"{with_offset(bucket.start, 'minutes')} – {with_offset(bucket.end, 'minutes')}: "
            f"{bucket.total} event{pluralize(bucket.total)}"
            + (f", {bucket.denied} forbidden" if bucket.denied else "")
            + ". Select to zoom in."
        )
        bar = {
            "bucket": bucket,
            "title": title,
            "x": i * width,
            "width": width - 2,
            "y": 100 - total_h,
            "allowed_height": round(total_h - denied_h, 2),
            "denied_y": 100 - denied_h,
            "denied_height": denied_h,
            "url": base + zoom(after=iso_utc(bucket.start), before=iso_utc(bucket.end)),
        }
        bar["html"] = _bar_html(bar)
        bars.append(bar)
    return bars


def _bar_html(bar: dict[str, Any]) -> SafeString:
    """One bar of the timeline's chart (a link, its tooltip, its two stacked rects), built here as
    the rows are: a template loop looked up ten values a bar, six hundred a page."""
    x, width = bar["x"], bar["width"]
    markup = f'<a href="{_e(bar["url"])}" class="bar"><title>{_e(bar["title"])}</title>'
    markup += f'<rect class="bar-hit" x="{x}" y="0" width="{width}" height="100"></rect>'
    if bar["allowed_height"]:
        markup += f'<rect class="bar-ok" x="{x}" y="{bar["y"]}" width="{width}" height="{bar["allowed_height"]}"></rect>'
    if bar["denied_height"]:
        markup += (
            f'<rect class="bar-denied" x="{x}" y="{bar["denied_y"]}" width="{width}" '
            f'height="{bar["denied_height"]}"></rect>'
        )
    return mark_safe(markup + "</a>")  # escaped above; the numbers are the view's own


def _drawer_context(request: ConsoleRequest, event: Event | None, projects: list[Any]) -> dict[str, Any]:
    if event is None:
        return {"event": None}
    organization = request.organization
    events_with_principals(
        organization=organization,  # type: ignore[arg-type]
        events=[event],
        recorded_names=request_may(request, "iam:read"),
    )
    project = next((p for p in projects if p.pk == event.project_id), None)
    at = event.recorded_at
    pivot = _Pivots(request.GET)
    return {
        "event": event,
        "event_project": project,
        "event_json": event_json(event),
        "event_ago": ago(at, timezone.now()),
        "pivot_principal_url": pivot(principal=str(event.principal_id)) if event.principal_id else None,
        "pivot_ip_url": pivot(ip=event.source_ip) if event.source_ip else None,
        "pivot_product_url": pivot.product(event.product_name),
        "pivot_method_url": pivot.method(event.product_name, event.method_name),
        "drawer_resources": [
            {
                "type": r.get("type", ""),
                "name": r.get("name", ""),
                "id": r.get("id", ""),
                "url": pivot.resource(r.get("type"), r.get("id")),
            }
            for r in (x if isinstance(x, dict) else {} for x in (event.resources or []))
        ],
        "close_url": reverse("audit:events") + _query(request.GET),
        "same_request_url": _url(
            QueryDict(),
            region=event.region,
            range=CUSTOM,
            after=iso_utc(earlier(at, SAME_REQUEST)),
            before=iso_utc(later(at, SAME_REQUEST)),
            request_id=event.request_id,
        )
        if event.request_id
        else None,
        "around_url": _url(
            QueryDict(),
            region=event.region,
            range=CUSTOM,
            after=iso_utc(earlier(at, AROUND)),
            before=iso_utc(later(at, AROUND)),
        ),
        "principal_url": _url(
            QueryDict(), region=event.region, range="30d", principal=str(event.principal_id)
        )
        if event.principal_id
        else None,
    }


# --- facets: the top values of the current filters, above the list -----------------------------

STATUS_FILTERS = {code: label.split(" ", 1)[1] for code, label in STATUS_CHOICES}  # the Status filter's


@require_safe
@login_required
@permission_required("audit_trail:read", method="ListEvents")
@vary_on_headers("HX-Request")
def event_facet_list(request: ConsoleRequest) -> HttpResponse:
    """The top principals, IPs, methods, products and statuses of the Events page's filters (its
    query string), for the page's folded panel.

    The Events page renders the panel's summary and asks for this grid with htmx: right after
    the page when the reader keeps the panel open (the "facets" cookie), on the first unfolding
    otherwise. The page never waits for the top values; they cost this request's fixed work
    (session to filter form) on top of their query, and a folded panel costs nothing. Without
    htmx (the panel's link without script) it is a page of its own."""
    organization = request.organization
    assert organization is not None  # permission_required guarantees it
    form = EventFilterForm(request.GET, projects=project_list(organization=organization), now=timezone.now())
    context: dict[str, Any] = {
        "nav": "audit",
        "tab": "events",
        "form": form,
        "region": form.selected_region,
        "regions": REGIONS,
        "region_choices": REGION_CHOICES,
        "events_url": _url(request.GET, cursor=None),
        "invalid": not form.is_valid(),
    }
    if form.is_valid():
        context |= _facets_context(request, form=form)
    if request.htmx and not request.htmx.history_restore_request:
        # The summary's scope ("in these 2 events") comes with the grid, out of band.
        return render(request, f"{FACETS_TEMPLATE}#grid", context | {"oob_scope": True})
    return render(request, FACETS_TEMPLATE, context)


def _facets_context(request: ConsoleRequest, *, form: EventFilterForm) -> dict[str, Any]:
    """The top values of `form`'s filters, counted over the newest events as the page lists
    them (`event_facets`: one query for the sample, one for the principals' names, one more for
    a search's `facet_scan_bound`), read from the replica as the page is."""
    assert request.organization is not None  # permission_required guarantees it
    query = form.to_query()
    # Names recorded at the time are principal details: shown (and searched) with `iam:read`.
    recorded_names = request_may(request, "iam:read")
    qs = event_queryset(
        organization_id=request.organization.pk,
        query=query,
        now=form.now,
        recorded_names=recorded_names,
        replica=True,
    )
    since = facet_scan_bound(organization_id=request.organization.pk, query=query, now=form.now, replica=True)
    facets = event_facets(qs, organization=request.organization, recorded_names=recorded_names, since=since)
    return {
        "facets": facets,
        "facet_groups": _facet_groups(request.GET, facets),
        # Exact counts: these are bounded already (count_label stops at 1,000).
        "facets_counted": f"{facets.sampled:,}",
        "facet_scan": f"{FACET_SCAN:,}",
    }


def _facet_groups(params: QueryDict, facets: Facets) -> list[dict[str, Any]]:
    """Each facet's values with the Events URL that adds its filter: None when no filter selects
    the value (Scaleway's actions, a method the catalogue does not know) or it is the filter
    already applied."""

    pivot = _Pivots(params)  # the query read once for the two dozen links, as the rows' pivots

    def link(**changes: str) -> str | None:
        if all(params.get(key) == value for key, value in changes.items()):
            return None  # already filtered by it
        return pivot(**changes)

    def item(value: Any, url: str | None, **extra: Any) -> dict[str, Any]:
        return {"value": value.value, "count": value.count, "shown": f"{value.count:,}", "url": url, **extra}

    def methods_of(product_name: str) -> tuple[str, ...]:
        product = catalogue.product(product_name)
        return product.methods if product else ()

    return [
        {
            "name": "principals",
            "title": "Principals",
            "items": [
                item(v, link(principal=v.value) if v.value else None, label=v.label)
                for v in facets.principals
            ],
        },
        {
            "name": "ips",
            "title": "IPs",
            "items": [item(v, link(ip=v.value) if v.value else None) for v in facets.ips],
        },
        {
            "name": "methods",
            "title": "Methods",
            "items": [
                item(
                    v,
                    link(product=v.product, method=v.value) if v.value in methods_of(v.product) else None,
                    product=v.product,
                )
                for v in facets.methods
            ],
        },
        {
            "name": "products",
            "title": "Products",
            "items": [
                item(v, link(product=v.value) if catalogue.product(v.value) else None)
                for v in facets.products
            ],
        },
        {
            "name": "statuses",
            "title": "Status",
            "items": [
                item(
                    v,
                    link(status=v.value) if v.value in STATUS_FILTERS else None,
                    label=f"{v.value} {STATUS_FILTERS.get(v.value, 'Error')}",
                )
                for v in facets.statuses
            ],
        },
    ]


# --- URLs: every state is a link --------------------------------------------------------------


_SLOT = "\x00slot"  # a value `_QueryPattern` fills in at each call


class _QueryPattern:
    """`_query(params, **changes)` for many values of the same keys (a `_SLOT` among `changes`):
    the query is read and encoded once, each call encodes only the values it fills in. The URL
    is the one `_query` gives: same keys, same order."""

    def __init__(self, params: QueryDict, **changes: str | None) -> None:
        merged: dict[str, str] = {k: cast(str, v) for k, v in params.items() if v}
        for key, value in changes.items():
            if value:
                merged[key] = value
            else:
                merged.pop(key, None)
        self.parts = [(k, None) if v is _SLOT else (k, urlencode({k: v})) for k, v in merged.items()]

    def __call__(self, **values: str) -> str:
        encoded = [
            part if part is not None else f"{quote_plus(key)}={quote_plus(values[key])}"
            for key, part in self.parts
        ]
        return f"?{'&'.join(encoded)}" if encoded else ""


def _query(params: QueryDict, **changes: str | None) -> str:
    """`?a=1&b=2` from `params` with `changes` applied (None removes a key) and blanks dropped."""
    merged: dict[str, str] = {
        k: cast(str, v) for k, v in params.items() if v
    }  # items() gives each key's last value
    for key, value in changes.items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return f"?{urlencode(merged)}" if merged else ""


def _url(params: QueryDict, **changes: str | None) -> str:
    return reverse("audit:events") + _query(params, **changes)


# --- Sign-ins: the console's ListAuthenticationEvents -------------------------------------------

SIGN_INS_TEMPLATE = "audit/sign_in_list.html"


@require_safe
@login_required
@permission_required("audit_trail:read", method="ListAuthenticationEvents")
@vary_on_headers("HX-Request", "HX-Target")
def sign_in_list(request: ConsoleRequest) -> HttpResponse:
    """Console sign-ins (successes, failures, throttling, MFA), newest first, keyset-paged, with
    the IPs that failed most on top so that a brute-force attempt stands out."""
    organization = request.organization
    assert organization is not None  # permission_required guarantees it
    form = SignInFilterForm(request.GET, now=timezone.now())
    context: dict[str, Any] = {
        "nav": "audit",
        "tab": "sign_ins",
        "form": form,
        "region": form.selected_region,
        "region_choices": REGION_CHOICES,
        "sign_in_region": DEFAULT_REGION,
        "range_label": SIGN_IN_RANGE_LABELS[form.range_key],
        "burst_failures": BURST_FAILURES,
        "burst_minutes": int(BURST_SPAN.total_seconds() // 60),
    }
    if form.is_valid():
        qs = sign_in_queryset(organization_id=organization.pk, query=form.to_query(), replica=True)
        page: EventPage[AuthenticationEvent] = event_page(qs, cursor=form.page_cursor, page_size=PAGE_SIZE)
        sources = sign_in_failed_sources(qs)
        bursts = {s.source_ip for s in sources if s.is_burst}
        context |= {
            "page": page,
            "rows": [{"sign_in": s, "burst": s.source_ip in bursts} for s in page.events],
            "sources": [
                {
                    "source": s,
                    "url": _sign_ins_url(request.GET, ip=s.source_ip, result="failure", cursor=None)
                    if s.source_ip
                    else None,
                }
                for s in sources
            ],
            "newer_url": _sign_ins_url(request.GET, cursor=page.previous_cursor.encode())
            if page.previous_cursor
            else None,
            "older_url": _sign_ins_url(request.GET, cursor=page.next_cursor.encode())
            if page.next_cursor
            else None,
            "first_url": _sign_ins_url(request.GET, cursor=None) if form.page_cursor else None,
        }
    else:
        context["invalid"] = True
    if request.htmx and request.htmx.target == "sign-in-results" and not request.htmx.history_restore_request:
        return render(request, f"{SIGN_INS_TEMPLATE}#results", context)
    return render(request, SIGN_INS_TEMPLATE, context)


def _sign_ins_url(params: QueryDict, **changes: str | None) -> str:
    return reverse("audit:sign_ins") + _query(params, **changes)
