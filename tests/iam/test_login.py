from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from audit.models import AuthenticationEvent
from iam.views import LOGIN_MAX_FAILURES_PER_EMAIL
from iam.views.auth import LOGIN_MAX_FAILURES_PER_IP
from tests.factories import PASSWORD

UA = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


@pytest.fixture(autouse=True)
def _clear_throttle():
    cache.clear()
    yield
    cache.clear()


def _login(client, email, password):
    return client.post("/login/", {"username": email, "password": password}, headers={"User-Agent": UA})


@pytest.mark.django_db
def test_a_successful_login_is_recorded_under_the_users_organization(client, owner, acme):
    response = _login(client, owner.email, PASSWORD)
    assert response.status_code == 302
    event = AuthenticationEvent.objects.get()
    assert (event.result, event.failure_reason, event.method) == ("success", "", "password")
    assert (event.organization_id, event.user_id) == (acme.pk, owner.pk)
    assert (event.source_ip, event.user_agent) == ("127.0.0.1", UA)


@pytest.mark.django_db
def test_failures_say_why(client, owner, acme):
    _login(client, owner.email, "wrong")
    _login(client, "nobody@example.org", "wrong")
    wrong_password, unknown_user = AuthenticationEvent.objects.order_by("recorded_at", "id")
    assert (wrong_password.result, wrong_password.failure_reason) == ("failure", "invalid_password")
    assert wrong_password.organization_id == acme.pk
    assert (unknown_user.failure_reason, unknown_user.organization_id) == ("unknown_user", None)


@pytest.mark.django_db
def test_repeated_failures_are_throttled_with_a_clear_message_and_recorded(client, owner, acme):
    for _ in range(LOGIN_MAX_FAILURES_PER_EMAIL):
        assert _login(client, owner.email, "wrong").status_code == 200

    response = _login(client, owner.email, PASSWORD)  # even the right password waits

    assert response.status_code == 429
    assert b"Too many failed log-in attempts. Wait 15 minutes" in response.content
    assert "_auth_user_id" not in client.session
    last = AuthenticationEvent.objects.order_by("-recorded_at", "-id").first()
    assert (last.result, last.failure_reason) == ("failure", "throttled")


@pytest.mark.django_db
def test_a_success_resets_the_count(client, owner, acme):
    for _ in range(LOGIN_MAX_FAILURES_PER_EMAIL - 1):
        _login(client, owner.email, "wrong")
    assert _login(client, owner.email, PASSWORD).status_code == 302
    client.logout()
    for _ in range(LOGIN_MAX_FAILURES_PER_EMAIL - 1):
        _login(client, owner.email, "wrong")
    assert _login(client, owner.email, PASSWORD).status_code == 302


def _login_from(client, ip, email, password):
    return client.post(
        "/login/",
        {"username": email, "password": password},
        headers={"User-Agent": UA, "X-Forwarded-For": ip},
    )


@pytest.fixture
def behind_our_proxy(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]


@pytest.mark.django_db
def test_an_attacker_elsewhere_cannot_lock_the_owner_out(client, owner, acme, behind_our_proxy):
    attacker = "198.51.100.66"
    for _ in range(LOGIN_MAX_FAILURES_PER_EMAIL + 3):
        _login_from(client, attacker, owner.email, "guess")
    assert _login_from(client, attacker, owner.email, PASSWORD).status_code == 429

    assert _login_from(Client(), "203.0.113.10", owner.email, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_one_address_is_throttled_across_every_account_it_tries(client, owner, acme, behind_our_proxy):
    spray = "198.51.100.77"
    for i in range(LOGIN_MAX_FAILURES_PER_IP):
        assert _login_from(client, spray, f"victim{i}@example.org", "guess").status_code == 200
    assert _login_from(client, spray, owner.email, PASSWORD).status_code == 429
    assert _login_from(Client(), "203.0.113.10", owner.email, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(client, owner, acme, settings):
    settings.TRUSTED_PROXIES = []
    # Without a trusted proxy in front, a client cannot dodge the throttle by inventing addresses.
    for i in range(LOGIN_MAX_FAILURES_PER_EMAIL):
        _login_from(client, f"192.0.2.{i}", owner.email, "guess")
    assert _login_from(client, "192.0.2.200", owner.email, PASSWORD).status_code == 429


@pytest.mark.django_db
def test_successes_do_not_count_against_an_address(client, owner, acme, behind_our_proxy):
    office = "203.0.113.50"
    for _ in range(LOGIN_MAX_FAILURES_PER_IP + 5):
        assert _login_from(Client(), office, owner.email, PASSWORD).status_code == 302
