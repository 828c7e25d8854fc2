"""The requests that carry iam's objects once a middleware has authenticated them: the console's
(user and organization) and the API's (organization, key and principal). The rest of what a
request offers every app (htmx, client IP) is in core.http."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

from core.http import HtmxHttpRequest

if TYPE_CHECKING:
    from iam.models import APIKey, Application, Organization, User


class ConsoleRequest(HtmxHttpRequest):
    """A signed-in console request, after OrganizationMiddleware."""

    user: User
    organization: Organization | None
    organizations: list[Organization]  # the user's, for the switcher (OrganizationMiddleware)
    request_id: str


class ApiRequest(HttpRequest):
    organization: Organization
    api_key: APIKey
    principal: User | Application
    request_id: str
