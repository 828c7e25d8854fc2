"""The Events page's filters: one form that validates the URL and parses it into an `EventQuery`.

Filtering itself is `audit.selectors.event_queryset`, which the ListEvents API shares, so the
console and the API can never disagree about which events match.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from django import forms
from django.forms.widgets import Input
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from audit import catalogue
from audit.selectors import EventQuery, SignInQuery, earlier
from core.paging import Cursor
from core.regions import DEFAULT_REGION, REGION_CHOICES
from iam.fields import UTCDateTimeField
from iam.models import Project

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_LABELS = {
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "today": "Today",
    "yesterday": "Yesterday",
    "custom": "Custom range",
}
# Calendar days in the time zone the page shows (the user's, or UTC by their choice).
TODAY, YESTERDAY = "today", "yesterday"
DEFAULT_RANGE = "1h"
CUSTOM = "custom"
NEWEST_FIRST, OLDEST_FIRST = "-recorded_at", "recorded_at"
STATUS_CHOICES = [("200", "200 Successful"), ("403", "403 Forbidden")]
# Widest window a custom range may ask for: the events kept online (reference §9, 90 days).
MAX_CUSTOM_RANGE = timedelta(days=90)


class LocalDateTimeInput(forms.DateTimeInput):
    """A datetime-local input that shows any value, ISO with an offset included, in the user's zone.

    Links (the timeline's bars, "around this time") carry UTC instants such as
    `2026-11-21T09:00:00Z`; the input shows them as wall-clock time in the active time zone.
    """

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"step": "1", **(attrs or {})}, format="%Y-%m-%dT%H:%M:%S")

    def format_value(self, value: object) -> str | None:
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip().replace(" ", "T", 1))
            except ValueError:  # well formed but impossible, such as month 13
                parsed = None
            if parsed is None:
                return value  # leave it as typed, the field reports the error
            value = parsed
        if isinstance(value, datetime):
            if timezone.is_aware(value):
                try:
                    value = timezone.localtime(value)
                except OverflowError:  # year 1 or 9999 has no local time west or east of UTC
                    pass
            # Not strftime: it drops the leading zeros of years before 1000.
            return value.replace(tzinfo=None, microsecond=0).isoformat()
        return super().format_value(value)


def _local_midnight(moment: datetime) -> datetime:
    """The start of `moment`'s calendar day in the active time zone (DST-safe: a day of 23 or 25
    hours starts at its own midnight)."""
    local = timezone.localtime(moment)
    return timezone.make_aware(datetime.combine(local.date(), datetime.min.time()))


def _validate_ip_or_network(value: str) -> None:
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise forms.ValidationError(
            "Enter an IP address (203.0.113.7) or a CIDR network (10.0.0.0/8).", code="invalid"
        ) from None


def _validate_cursor(value: str) -> None:
    try:
        Cursor.decode(value)
    except ValueError:
        raise forms.ValidationError(
            "This page link is not valid any more. Start again from the newest events.", code="invalid"
        ) from None


class _RenderedOnce:
    """A widget whose HTML is rendered once per name, value and attributes, then reused: the
    Events filters are the same on every request but for their values, and rendering them
    through the widget templates cost a fifth of the page's Python time. The output is the
    template's own. `cached_value` says which values may be kept: a value that a reader typed
    is not, so that no reader's request can tell, by its time, what another one filtered on."""

    rendered: dict[tuple[Any, ...], str] = {}  # shared by every widget; bounded below
    LIMIT = 2048

    def cached_value(self, value: Any) -> bool:
        return True

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = cast(forms.Widget, self)
        render = super().render  # type: ignore[misc]  # the widget class's, after this mixin
        if not self.cached_value(value):
            return cast(SafeString, render(name, value, attrs, renderer))
        try:
            formatted = widget.format_value(value)
            key = (
                type(self),
                name,
                tuple(formatted) if isinstance(formatted, list) else formatted,
                tuple(sorted((widget.attrs | (attrs or {})).items())),
                tuple(getattr(self, "choices", ())),
                getattr(self, "allow_multiple_selected", False),
            )
            html = self.rendered.get(key)
        except TypeError:  # an unhashable attribute or choice: render as usual
            return cast(SafeString, render(name, value, attrs, renderer))
        if html is None:
            if len(self.rendered) >= self.LIMIT:
                self.rendered.clear()
            html = self.rendered[key] = render(name, value, attrs, renderer)
        return mark_safe(html)  # the widget template's output, escaped there


class CachedSelect(_RenderedOnce, forms.Select):
    """A drop-down rendered once per selected value (its values are the choices' own).

    A form's copy of it shares its choices: they are replaced whole, never changed in place, and
    Django's copy normalized each of them again on every request."""

    def __deepcopy__(self, memo: dict[int, Any]) -> CachedSelect:
        copied = copy.copy(self)
        copied.attrs = self.attrs.copy()
        memo[id(self)] = copied
        return copied


class SharedChoiceField(forms.ChoiceField):
    """A ChoiceField whose choices a form's copy shares (Django deep-copies every choice of every
    field on every form: some 400 tuples an Events page). Its choices are set whole, at class
    level or per form, never changed in place."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedChoiceField:
        copied = forms.Field.__deepcopy__(self, memo)
        copied._choices = self._choices  # type: ignore[attr-defined]  # ChoiceField's own storage
        return copied


class _EmptyOnly(_RenderedOnce):
    def cached_value(self, value: Any) -> bool:
        return value in (None, "")


class CachedTextInput(_EmptyOnly, forms.TextInput):
    """A text box rendered once while empty (most filters, most of the time); typed values are
    rendered each time."""


class CachedHiddenInput(_EmptyOnly, forms.HiddenInput):
    """A hidden input rendered once while empty."""


class CachedSearchInput(_EmptyOnly, forms.SearchInput):
    """A search box rendered once while empty."""


class CachedLocalDateTimeInput(_EmptyOnly, LocalDateTimeInput):
    """A date and time box rendered once while empty."""


@functools.cache
def _datalist_options(names: tuple[str, ...]) -> SafeString:
    """The <option>s of a datalist of `names` (the methods without a product: some 240), once."""
    return mark_safe("".join(f'<option value="{escape(name)}"></option>' for name in names))


def _text(
    label: str,
    *,
    max_length: int,
    placeholder: str = "",
    widget_class: type[Input] = CachedTextInput,
    validators: tuple[Callable[[str], None], ...] = (),
) -> forms.CharField:
    widget = widget_class(attrs={"placeholder": placeholder, "autocomplete": "off"})
    return forms.CharField(
        label=label, max_length=max_length, required=False, widget=widget, validators=list(validators)
    )


class _FilterForm(forms.Form):
    """What the Events and Sign-ins filters share: cleaned values that tolerate the other fields'
    errors, the region and the keyset cursor."""

    def value(self, name: str) -> Any:
        """A cleaned value (None when absent or invalid): the valid filters still show, say, the
        chosen region while another filter's error is on screen."""
        if not self.is_bound:
            return None
        self.errors  # noqa: B018 (cleans the form, once)
        return self.cleaned_data.get(name) or None

    @property
    def selected_region(self) -> str:
        return self.value("region") or DEFAULT_REGION

    @property
    def page_cursor(self) -> Cursor | None:
        token = self.value("cursor")
        return Cursor.decode(token) if token else None


class EventFilterForm(_FilterForm):
    """Every parameter of the Events page URL, all optional. Unknown values are form errors, never
    a 500. `to_query()` turns a valid form into the `EventQuery` that the selectors run."""

    region = SharedChoiceField(
        label="Region",
        choices=REGION_CHOICES,
        required=False,
        widget=CachedSelect,
        error_messages={"invalid_choice": "Unknown region “%(value)s”. Choose fr-par, nl-ams or pl-waw."},
    )
    # choices: the organization's
    project = SharedChoiceField(label="Project", required=False, widget=CachedSelect)
    range = SharedChoiceField(
        label="Time range", choices=list(RANGE_LABELS.items()), required=False, widget=CachedSelect
    )
    after = UTCDateTimeField(label="From", required=False, widget=CachedLocalDateTimeInput())
    before = UTCDateTimeField(label="To", required=False, widget=CachedLocalDateTimeInput())
    product = SharedChoiceField(
        label="Product",
        choices=[("", "All products"), *((p.name, p.title) for p in catalogue.PRODUCTS)],
        required=False,
        widget=CachedSelect,
    )
    # Any known method validates (a mismatch with the product gets its own message in clean());
    # the widget, set per request (see __init__), offers only the chosen product's methods.
    method = SharedChoiceField(
        label="Method",
        choices=[("", "All methods"), *((m, m) for m in catalogue.methods())],
        required=False,
        widget=forms.TextInput,
        error_messages={"invalid_choice": "Unknown method “%(value)s”. Pick one from the list."},
    )
    status = SharedChoiceField(
        label="Status", choices=[("", "All"), *STATUS_CHOICES], required=False, widget=CachedSelect
    )
    principal = forms.UUIDField(
        label="Principal ID",
        required=False,
        widget=CachedTextInput(attrs={"placeholder": "User or application ID", "autocomplete": "off"}),
    )
    ip = _text(
        "Source IP or CIDR",
        max_length=64,
        placeholder="203.0.113.7 or 10.0.0.0/8",
        validators=(_validate_ip_or_network,),
    )
    resource_type = SharedChoiceField(
        label="Resource type",
        choices=[("", "Any type"), *((t, t) for t in sorted(catalogue.RESOURCE_TYPES))],
        required=False,
        widget=CachedSelect,
    )
    resource_id = _text("Resource ID", max_length=128, placeholder="ID")
    q = _text(
        "Search", max_length=200, placeholder="Method, resource or principal", widget_class=CachedSearchInput
    )
    request_id = forms.CharField(label="Request ID", max_length=64, required=False, widget=CachedHiddenInput)
    order = SharedChoiceField(
        label="Sort",
        choices=[(NEWEST_FIRST, "Newest first"), (OLDEST_FIRST, "Oldest first")],
        required=False,
        widget=CachedHiddenInput,
    )
    cursor = forms.CharField(
        label="Page", required=False, widget=CachedHiddenInput, validators=[_validate_cursor]
    )

    def __init__(
        self, data: Mapping[str, Any] | None, *, projects: list[Project], now: datetime | None = None
    ) -> None:
        super().__init__(data)
        self.projects = projects
        self.now = now or timezone.now()
        project = cast(forms.ChoiceField, self.fields["project"])
        project.choices = [("", "All projects"), *((str(p.pk), p.name) for p in projects)]
        method = self.fields["method"]
        product = catalogue.product(self.data.get("product") or "")
        # Without a product there are some 240 methods: a text box with suggestions (a native
        # datalist, searchable as you type) rather than a drop-down to scroll through.
        self.method_suggestions: tuple[str, ...] = ()
        self.method_datalist = mark_safe("")
        if product:
            method.widget = CachedSelect(choices=[("", "All methods"), *((m, m) for m in product.methods)])
        else:
            self.method_suggestions = catalogue.methods()
            self.method_datalist = _datalist_options(self.method_suggestions)
            method.widget = CachedTextInput(
                attrs={"list": "method-options", "placeholder": "All methods", "autocomplete": "off"}
            )
        # The region drop-down sits in the tabs row, outside the <form>, and still belongs to it.
        self.fields["region"].widget.attrs["form"] = "filters"

    def clean(self) -> dict[str, Any]:
        """Cross-field rules: a custom range that makes sense, a method of the chosen product."""
        super().clean()
        data = self.cleaned_data
        after, before = data.get("after"), data.get("before")
        # A range with bounds and no preset is a custom range too (see `range_key`).
        custom = data.get("range") == CUSTOM or (not data.get("range") and (after or before))
        if custom and (after or before):
            # An open end is "now" (no start is an hour before the end): judge the range it makes.
            end = before or self.now
            if after and after >= end:
                if before:
                    self.add_error("before", "The end of the range must be after its start.")
                else:
                    self.add_error("after", "The start of the range must be in the past.")
            elif after and end - after > MAX_CUSTOM_RANGE:
                self.add_error("after", "A range covers at most 90 days.")
        product = catalogue.product(data.get("product") or "")
        method = data.get("method")
        if product and method and method not in product.methods:
            self.add_error("method", f"{method} is not a method of {product.title}.")
        return data

    # --- what the view needs ------------------------------------------------------------------

    @property
    def range_key(self) -> str:
        # A link that names its own bounds (an alert e-mail, "around this time") is a custom range.
        if not self.value("range") and (self.value("after") or self.value("before")):
            return CUSTOM
        return self.value("range") or DEFAULT_RANGE

    @property
    def selected_order(self) -> str:
        return self.value("order") or NEWEST_FIRST

    @property
    def selected_project(self) -> Project | None:
        chosen = self.value("project")
        return next((p for p in self.projects if str(p.pk) == chosen), None)

    def window(self) -> tuple[datetime, datetime]:
        """The [start, end] instants the page shows, relative to `now` for the presets."""
        if self.range_key == CUSTOM:
            before = self.value("before") or self.now
            after = self.value("after") or earlier(before, RANGES[DEFAULT_RANGE])
            return after, before
        if self.range_key == TODAY:
            return _local_midnight(self.now), self.now
        if self.range_key == YESTERDAY:
            today = _local_midnight(self.now)
            # Noon of the day before is always in yesterday, whatever DST did to its length.
            return _local_midnight(today - timedelta(hours=12)), today
        return self.now - RANGES[self.range_key], self.now

    def to_query(self) -> EventQuery:
        """The filters as the one query object the selectors take. Call it on a valid form."""
        after, before = self.window()
        status = self.value("status")
        return EventQuery(
            region=self.selected_region,
            recorded_after=after,
            recorded_before=before,
            project_id=uuid.UUID(self.value("project")) if self.value("project") else None,
            product_name=self.value("product"),
            method_name=self.value("method"),
            status=int(status) if status else None,
            principal_id=self.value("principal"),
            source_ip=self.value("ip"),
            resource_type=self.value("resource_type"),
            resource_id=self.value("resource_id"),
            text=self.value("q"),
            request_id=self.value("request_id"),
        )

    @property
    def narrowing(self) -> list[str]:
        """Names of the filters set beyond region, project and time (for "clear filters")."""
        names = ("product", "method", "status", "principal", "ip", "resource_type", "resource_id", "q")
        return [n for n in (*names, "request_id") if self.value(n)]


# --- Sign-ins ------------------------------------------------------------------------------------

SIGN_IN_RANGES: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
SIGN_IN_RANGE_LABELS = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
}
# A week by default: last week's night-time attempts are what a security review looks for first.
DEFAULT_SIGN_IN_RANGE = "7d"
SUCCEEDED, FAILED, THROTTLED = "success", "failure", "throttled"
SIGN_IN_RESULTS = [("", "All"), (SUCCEEDED, "Successful"), (FAILED, "Failed"), (THROTTLED, "Throttled")]


class SignInFilterForm(_FilterForm):
    """The Sign-ins tab's URL: time range, result, e-mail and IP, all optional; bad values are
    form errors. `to_query()` gives the `SignInQuery` that `sign_in_queryset` runs."""

    region = forms.ChoiceField(
        label="Region",
        choices=REGION_CHOICES,
        required=False,
        error_messages={"invalid_choice": "Unknown region “%(value)s”. Choose fr-par, nl-ams or pl-waw."},
    )
    range = forms.ChoiceField(label="Time range", choices=list(SIGN_IN_RANGE_LABELS.items()), required=False)
    result = forms.ChoiceField(label="Result", choices=SIGN_IN_RESULTS, required=False)
    email = _text("E-mail", max_length=254, placeholder="name@example.com")
    ip = _text(
        "Source IP or CIDR",
        max_length=64,
        placeholder="203.0.113.7 or 10.0.0.0/8",
        validators=(_validate_ip_or_network,),
    )
    cursor = forms.CharField(
        label="Page", required=False, widget=forms.HiddenInput, validators=[_validate_cursor]
    )

    def __init__(self, data: Mapping[str, Any] | None, *, now: datetime | None = None) -> None:
        # The drop-down shows the default range when the URL names none (a bound form ignores
        # `initial`), so that changing another filter does not silently switch to its first option.
        if data is not None and not data.get("range"):
            data = {**{k: data.get(k) for k in data}, "range": DEFAULT_SIGN_IN_RANGE}
        super().__init__(data)
        self.now = now or timezone.now()

    @property
    def range_key(self) -> str:
        return self.value("range") or DEFAULT_SIGN_IN_RANGE

    @property
    def narrowing(self) -> list[str]:
        return [n for n in ("result", "email", "ip") if self.value(n)]

    def to_query(self) -> SignInQuery:
        """The filters as one query object. Call it on a valid form."""
        return SignInQuery(
            region=self.selected_region,
            recorded_after=self.now - SIGN_IN_RANGES[self.range_key],
            recorded_before=self.now,
            result=self.value("result"),
            email=(self.value("email") or "").strip() or None,
            source_ip=(self.value("ip") or "").strip() or None,
        )
