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
