from __future__ import annotations

from django import forms

MAX_DAYS = 36500  # a hundred years


class RetentionForm(forms.Form):
    """The Integrity tab's retention control (owners only)."""

    days = forms.IntegerField(label="Keep events for (days)", min_value=1, max_value=MAX_DAYS)
    legal_hold = forms.BooleanField(label="Legal hold: remove nothing while set", required=False)
    reason = forms.CharField(label="Reason (kept in the trail)", max_length=500, required=False)
