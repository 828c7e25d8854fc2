"""Where a signed-in user may go: the sidebar's sections and the page they land on.

Both ask the one permission check (`iam.permissions.request_may`), so the sidebar never offers a
page that answers 403 and signing in never lands on one (which recorded a 403 event in the
user's name at every sign-in).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse

from iam.permissions import request_may


@dataclass(frozen=True)
class Section:
    """One sidebar entry: the page it opens (the first of its tabs the user may open)."""

    key: str  # the `nav` value of the section's pages, which marks the current entry
    label: str
    group: str  # the sidebar heading it sits under
    url: str


# Each section's pages, in the order the section opens them: (URL name, action it needs).
_SECTIONS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    ("audit", "Audit Trail", "Monitoring", (("audit:events", "audit_trail:read"),)),
    # The auditor reads IAM ▸ Logs (they derive from the trail) but no other IAM tab.
    ("iam", "IAM", "Security", (("iam:users", "iam:read"), ("iam:logs", "iam:logs"))),
    ("contacts", "Notification contacts", "Security", (("alerts:contacts", "contacts:read"),)),
)

# IAM's tabs and the action each needs (IAM ▸ Logs also opens to Audit Trail readers).
IAM_TABS: tuple[tuple[str, str, str, str], ...] = (
    ("users", "Users", "iam:users", "iam:read"),
    ("applications", "Applications", "iam:applications", "iam:read"),
    ("groups", "Groups", "iam:groups", "iam:read"),
    ("policies", "Policies", "iam:policies", "iam:read"),
    ("api_keys", "API keys", "iam:api-keys", "iam:read"),
    ("logs", "Logs", "iam:logs", "iam:logs"),
)


def console_sections(request: HttpRequest) -> list[Section]:
    """The sections the request's user may open in the current organization, in sidebar order.

    Costs the permission check's two queries once per request (its grants are cached on it).
    """
    if getattr(request, "organization", None) is None:
        return []
    sections = []
    for key, label, group, pages in _SECTIONS:
        url_name = next((name for name, action in pages if request_may(request, action)), None)
        if url_name is not None:
            sections.append(Section(key, label, group, reverse(url_name)))
    return sections


def iam_tabs(request: HttpRequest) -> list[dict[str, str]]:
    """IAM's tabs the user may open."""
    return [
        {"key": key, "label": label, "url": reverse(url_name)}
        for key, label, url_name, action in IAM_TABS
        if request_may(request, action)
    ]


def landing_url(request: HttpRequest) -> str | None:
    """The first page the user may use: the first section they may open, else (staff) the Django
    admin; None when there is none."""
    sections = console_sections(request)
    if sections:
        return sections[0].url
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return reverse("admin:index")
    return None
