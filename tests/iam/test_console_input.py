"""Whatever a client puts in the URL, the query or the htmx headers, a console page answers
without a 500: an unknown id is a 404, a region the page lacks is the whole page, and paging
values out of range are clamped."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from alerts.models import NotificationContact
from audit.models import Event
from audit.services import Actor, build_event, record, record_many
from core.ids import uuid7
from core.paging import MAX_PER_PAGE
from iam import services
from tests.factories import ApplicationFactory, GroupFactory, grant

HTMX_TARGETS = [
    "results",
    "drawer",
    "detail",
    "backtest",
    "fired-alerts",
    "log-dialog-body",
    "method_field",
    "no-such-region",
    "results#results",
    "../../base.html",
    " ",
]
CONSOLE_NAMESPACES = {None, "iam", "audit", "alerts"}
API_PREFIXES = ("audit-trail/v1alpha1/", "iam/v1alpha1/", "x/")


def _console_routes(patterns=None, prefix: str = "", namespace: str | None = None):
    """(route, url name, converters) of every console URL, straight from the resolver."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if str(pattern.pattern).startswith("admin/"):
                continue
            yield from _console_routes(
                pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace
            )
        elif isinstance(pattern, URLPattern) and pattern.name:
            route = prefix + str(pattern.pattern)
            if namespace in CONSOLE_NAMESPACES and not route.startswith(API_PREFIXES):
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                yield route, name, pattern.pattern.converters


def _iam_log(acme, owner, *, id=None, recorded_at=None):
    event = build_event(
        organization_id=acme.pk,
        actor=Actor.of(owner),
        product_name="iam",
        service_name="scaleway.iam.v1alpha1.Api",
        method_name="CreateGroup",
        locality="global",
        resources=[{"id": "grp", "type": "iam_group"}],
        recorded_at=recorded_at,
        id=id,
    )
    record_many([event])
    return event


def _htmx(target: str) -> dict[str, str]:
    return {"HX-Request": "true", "HX-Target": target}


@pytest.mark.django_db
def test_a_log_entry_address_with_any_uuid_is_found_or_not_found_never_a_500(owner_client, acme):
    rng = random.Random(8)
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(400)]
    ids += [
        uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff"),
        uuid.UUID("ffffffff-ffff-7fff-bfff-ffffffffffff"),  # a v7 whose time is past year 9999
        uuid.UUID("00000000-0000-7000-8000-000000000000"),  # a v7 at the epoch
        uuid.UUID(int=0),
    ]
    for log_id in ids:
        response = owner_client.get(f"/iam/logs/{log_id}/")
        assert response.status_code == 404, log_id


@pytest.mark.django_db
def test_a_log_entry_whose_id_is_not_a_time_ordered_v7_still_opens(owner_client, acme, owner):
    # External producers choose their ids: a v4, or a v7 minted long before the event was recorded.
    v4 = _iam_log(acme, owner, id=uuid.uuid4())
    far = _iam_log(acme, owner, id=uuid7(timezone.now() - timedelta(days=400)))
    for event in (v4, far):
        response = owner_client.get(f"/iam/logs/{event.id}/")
        assert response.status_code == 200
        assert str(event.id) in response.text


@pytest.fixture
def console_objects(acme, owner, auditor):
    """One object of Acme's behind each console route with an id, so that route renders for real."""
    application = ApplicationFactory(organization=acme, name="ci")
    group = GroupFactory(organization=acme, name="Developers")
    policy = grant(application, acme, "AuditTrailReadOnly")
    key, _ = services.api_key_create(actor=Actor.of(owner), organization=acme, user=owner)
    log = Event.objects.filter(organization_id=acme.pk, method_name="CreateAPIKey").get()
    event = record(
        organization_id=acme.pk,
        actor=Actor.of(owner),
        product_name="secret-manager",
        service_name="scaleway.secret_manager.v1beta1.Api",
        method_name="CreateSecret",
        locality="fr-par",
    )
    contact = NotificationContact.objects.create(organization=acme, email="sec@acme.test", security=True)
    return {
        "iam:application": {"pk": application.pk},
        "iam:group": {"pk": group.pk},
        "iam:policy": {"pk": policy.pk},
        "iam:log": {"pk": log.pk},
        "iam:member-remove": {"user_id": auditor.pk},
        "iam:api-key-delete": {"access_key": key.access_key},
        "audit:event": {"event_id": event.pk},
        "alerts:contact-update": {"contact_id": contact.pk},
    }


def _kwargs(name: str, converters, objects) -> dict:
    """The route's own object when we have one, else a well-formed id that matches nothing."""
    if name in objects:
        return objects[name]
    return {
        key: uuid.uuid4() if type(conv).__name__ == "UUIDConverter" else "x"
        for key, conv in converters.items()
    }


@pytest.mark.django_db
def test_no_htmx_target_makes_any_console_page_fail(owner_client, console_objects):
    routes = list(_console_routes())
    assert {"iam:application", "iam:policy", "audit:events", "alerts:management"} <= {n for _, n, _ in routes}
    for _route, name, converters in routes:
        url = reverse(name, kwargs=_kwargs(name, converters, console_objects))
        for target in HTMX_TARGETS:
            response = owner_client.get(url, headers=_htmx(target))
            assert response.status_code < 500, (url, target)


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["/iam/applications/{pk}/", "/iam/policies/{pk}/"])
def test_a_detail_page_asked_for_a_results_region_it_lacks_answers_the_whole_page(
    owner_client, console_objects, address
):
    pk = console_objects["iam:application" if "applications" in address else "iam:policy"]["pk"]
    response = owner_client.get(address.format(pk=pk), headers=_htmx("results"))
    assert response.status_code == 200
    assert "<html" in response.text


@pytest.mark.django_db
def test_a_list_still_answers_its_results_region(owner_client, console_objects):
    response = owner_client.get("/iam/applications/", headers=_htmx("results"))
    assert "<html" not in response.text and 'id="results"' in response.text


BAD_PAGING = [
    {"per_page": "-1"},
    {"per_page": "0"},
    {"per_page": "abc"},
    {"per_page": "1e3"},
    {"per_page": str(10**30)},
    {"page": "-1"},
    {"page": "0"},
    {"page": "x"},
    {"page": str(10**30)},
    {"sort": "nope"},
    {"sort": "-created_at"},
    {"per_page": "-5", "page": "-5", "sort": "-"},
]
CONSOLE_LISTS = [
    "/iam/users/",
    "/iam/applications/",
    "/iam/groups/",
    "/iam/policies/",
    "/iam/api-keys/",
    "/iam/logs/",
    "/audit-trail/alerting/",
    "/contacts/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("query", BAD_PAGING, ids=lambda q: "&".join(f"{k}={v[:8]}" for k, v in q.items()))
def test_bad_paging_and_sorting_on_every_console_list_is_not_a_500(owner_client, console_objects, query):
    for url in CONSOLE_LISTS:
        response = owner_client.get(url, query)
        assert response.status_code == 200, url
        partial = owner_client.get(url, query, headers=_htmx("results"))
        assert partial.status_code == 200, url


@pytest.mark.django_db
def test_per_page_is_clamped_between_one_and_the_maximum(owner_client, acme):
    for i in range(MAX_PER_PAGE + 3):
        ApplicationFactory(organization=acme, name=f"app-{i:03}")

    def rows(per_page: str) -> int:
        table = owner_client.get("/iam/applications/", {"per_page": per_page}).context["table"]
        return len(table.page.object_list)

    assert rows("-1") == 1
    assert rows("0") == 1
    assert rows("2") == 2
    assert rows(str(10**30)) == MAX_PER_PAGE
    assert rows("abc") == 50  # the page's own default


@pytest.mark.django_db
def test_a_page_number_out_of_range_shows_the_nearest_page(owner_client, acme):
    for i in range(5):
        ApplicationFactory(organization=acme, name=f"app-{i}")
    last = owner_client.get("/iam/applications/", {"per_page": "2", "page": "999"}).context["table"]
    assert last.page.number == 3
    first = owner_client.get("/iam/applications/", {"per_page": "2", "page": "-4"}).context["table"]
    assert first.page.number == 1
