"""Form fields the console's forms and filters share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms


class UTCDateTimeField(forms.DateTimeField):
    """A date and time, as an instant in UTC.

    A typed or linked value may carry any offset RFC 3339 allows (up to ±23:59), but PostgreSQL
    stores at most ±15:59, and an instant near year 1 or 9999 may not exist in UTC at all: the
    value is converted here, where a form can still say what is wrong.
    """

    default_error_messages = {"out_of_range": "Enter a date between the years 1 and 9999."}

    def to_python(self, value: Any) -> datetime | None:
        result = super().to_python(value)
        if result is None:
            return None
        try:
            return result.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range") from None


class UTCDateTimeFilter(django_filters.DateTimeFilter):  # type: ignore[misc]  # django-filter has no types
    field_class = UTCDateTimeField


class NoEchoOfOverlongValues:
    """A widget mixin: a value longer than `max_echo` (a pasted 3,000-character string) is not
    written back into the page; the field's error says what was wrong with it."""

    max_echo = 64

    def format_value(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) > self.max_echo:
            return None
        return super().format_value(value)  # type: ignore[misc]  # the widget class it is mixed into


class BoundedTextInput(NoEchoOfOverlongValues, forms.TextInput):
    pass


class BoundedDateTimeInput(NoEchoOfOverlongValues, forms.DateTimeInput):
    pass


class BoundedUUIDField(forms.UUIDField):
    """A UUID whose over-long value is refused for its length, before it is parsed."""

    max_chars = 36

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", BoundedTextInput)
        super().__init__(**kwargs)
        self.widget.attrs["maxlength"] = str(self.max_chars)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and len(value.strip()) > self.max_chars:
            raise forms.ValidationError(
                "Enter a UUID: at most %(limit)d characters (this value has %(length)s).",
                code="max_length",
                params={"limit": self.max_chars, "length": f"{len(value.strip()):,}"},
            )
        return super().to_python(value)


class BoundedUUIDFilter(django_filters.UUIDFilter):  # type: ignore[misc]  # django-filter has no types
    field_class = BoundedUUIDField
