"""Accessibility checks that hold across the console's forms (found in the QA pass)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.core.cache import cache


class _References(HTMLParser):
    """Collects element ids and the ids that aria-describedby/aria-labelledby point at."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.references: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        for name in ("aria-describedby", "aria-labelledby"):
            for ref in (attributes.get(name) or "").split():
                self.references.append((f"<{tag} name={attributes.get('name')}> {name}", ref))


def dangling_references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return [f"{where} -> #{ref}" for where, ref in parser.references if ref not in parser.ids]


def assert_errors_are_announced(response, *, field_id: str) -> None:
    """The invalid control says it is invalid, and its error message is the one it points at."""
    html = response.content.decode()
    assert dangling_references(html) == []
    parser = _References()
    parser.feed(html)
    assert f"{field_id}_error" in parser.ids
    assert f"{field_id}_error" in {ref for _where, ref in parser.references}


@pytest.mark.django_db
def test_the_login_form_points_its_controls_at_their_errors(client):
    cache.clear()
    response = client.post("/login/", {"username": "", "password": ""})
    assert response.status_code == 200
    assert_errors_are_announced(response, field_id="id_username")


@pytest.mark.django_db
def test_iam_forms_point_their_controls_at_their_errors(owner_client):
    response = owner_client.post("/iam/users/invite/", {"email": "not an address"})
    assert_errors_are_announced(response, field_id="id_email")

    response = owner_client.post("/iam/api-keys/create/", {"bearer": "", "expires_at": "2020-01-01T10:00"})
    assert_errors_are_announced(response, field_id="id_expires_at")

    response = owner_client.post("/iam/applications/create/", {"name": ""})
    assert_errors_are_announced(response, field_id="id_name")


@pytest.mark.django_db
def test_notification_contacts_point_the_address_at_its_error(owner_client):
    response = owner_client.post("/contacts/", {"email": "not-an-address", "types": ["security"]})
    assert_errors_are_announced(response, field_id="id_email")


@pytest.mark.django_db
def test_the_custom_rule_form_points_every_control_at_its_help_and_errors(owner_client):
    response = owner_client.post(
        "/audit-trail/alerting/custom-rules/new/?region=fr-par",
        {"name": "", "query": "true", "occurrences": "0", "evaluation_window": "300", "severity": "info"},
    )
    assert response.status_code == 200
    assert_errors_are_announced(response, field_id="id_name")
    assert_errors_are_announced(response, field_id="id_occurrences")


@pytest.mark.django_db
def test_event_filters_point_their_controls_at_their_errors(owner_client):
    response = owner_client.get("/audit-trail/events/?ip=not-an-ip")
    assert_errors_are_announced(response, field_id="id_ip")


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_badge_and_text_colours_meet_wcag_aa_contrast():
    """Badges are 12px text: they need 4.5:1 against their tint (the warning badge had 4.25:1)."""
    import re
    from pathlib import Path

    from django.conf import settings

    css = (Path(settings.BASE_DIR) / "static/css/app.css").read_text()
    tokens = dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-fA-F]{6})", css))
    pairs = [
        ("success", "success-soft"),
        ("danger", "danger-soft"),
        ("warning", "warning-soft"),
        ("muted", "surface-2"),
        ("muted", "bg"),
        ("primary", "primary-soft"),
        ("warning", "surface"),
    ]
    low = {f"{fg} on {bg}": round(_contrast(tokens[fg], tokens[bg]), 2) for fg, bg in pairs}
    assert {pair: ratio for pair, ratio in low.items() if ratio < 4.5} == {}
