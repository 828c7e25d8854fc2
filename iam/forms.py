from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )


class OrganizationSwitchForm(forms.Form):
    organization = forms.UUIDField()
    next = forms.CharField(required=False)


class TimeDisplayForm(forms.Form):
    time_display = forms.ChoiceField(choices=[("local", "Local time"), ("utc", "UTC")])
    next = forms.CharField(required=False)
