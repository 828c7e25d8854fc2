"""The Exports tab's form: a new export job."""

from __future__ import annotations

from typing import Any

from django import forms

from core.regions import REGION_CHOICES
from exports.services import BUCKET_RE


class ExportJobForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255, initial="daily-export")
    bucket = forms.CharField(
        label="Bucket",
        max_length=63,
        help_text="3 to 63 lowercase letters, digits, dots and hyphens.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "my-audit-bucket"}),
    )
    key_prefix = forms.CharField(
        label="Prefix",
        max_length=255,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "audit-trail"}),
    )
    s3_region = forms.ChoiceField(label="Bucket region", choices=REGION_CHOICES)

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name or any(ord(c) < 32 for c in name):
            raise forms.ValidationError("Give the job a one-line name.")
        return name

    def clean_bucket(self) -> str:
        bucket: str = self.cleaned_data["bucket"].strip()
        if not BUCKET_RE.fullmatch(bucket):
            raise forms.ValidationError(
                "A bucket name is 3 to 63 lowercase letters, digits, dots and hyphens."
            )
        return bucket

    def clean_key_prefix(self) -> str:
        prefix: str = self.cleaned_data["key_prefix"]
        if any(ord(c) < 32 for c in prefix):
            raise forms.ValidationError("The prefix must not contain control characters.")
        return prefix

    def __init__(self, *args: Any, region: str, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["s3_region"].initial = region
