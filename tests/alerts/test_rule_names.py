"""A custom rule's name goes into alert e-mails' Subject: no control character may get there
(issue 8, #14: a name with CR/LF was accepted, and its alert could never be e-mailed)."""

from __future__ import annotations

import pytest
from django.core import mail

from alerts import services
from alerts.models import Alert, CustomAlertRule
from alerts.rules import RuleNameError
from audit.services import Actor
from tests.alerts.conftest import forbidden_events
from tests.alerts.test_api import CUSTOM, send
from tests.api.conftest import ApiClient, api_key_for

pytestmark = pytest.mark.django_db

NEW_RULE = "/audit-trail/alerting/custom-rules/new/"
BAD_NAMES = [
    "Refused\r\nBcc: victim@example.org",
    "Refused\nsecond line",
    "Refused\rcarriage",
    "Tab\tseparated",
    "Nul\x00byte",
    "Escape\x1b[31m",
    "Delete\x7f",
    "C1\x85next line",
    "Line\u2028separator",
    "Paragraph\u2029separator",
]


@pytest.fixture
def owner_api(owner, acme):
    return ApiClient(api_key_for(owner, acme)[1])


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_console_refuses_a_rule_name_with_control_characters(owner_client, acme, name):
    data = {
        "name": name,
        "query": "status_code == 403",
        "occurrences": 1,
        "evaluation_window": 300,
        "severity": "info",
        "action": "save",
    }
    response = owner_client.post(NEW_RULE, data)
    assert response.status_code == 200
    html = response.content.decode()
    # Django's own check answers first for NUL.
    assert "The name cannot contain line breaks, tabs or other control characters." in html or (
        "\x00" in name and "Null characters are not allowed." in html
    )
    assert not CustomAlertRule.objects.exists()


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_api_refuses_a_rule_name_with_control_characters_on_create_and_update(owner_api, acme, name):
    created = send(owner_api, "POST", CUSTOM, {"name": name, "query": "true", "occurrences": 1})
    assert created.status_code == 400
    assert created.json()["type"] == "invalid_arguments"
    # The API's string parser refuses NUL in any parameter first, as a format error.
    reason = "format" if "\x00" in name else "constraint"
    assert [(d["argument_name"], d["reason"]) for d in created.json()["details"]] == [("name", reason)]
    assert not CustomAlertRule.objects.exists()
    rule = send(owner_api, "POST", CUSTOM, {"name": "Fine", "query": "true", "occurrences": 1}).json()
    renamed = send(owner_api, "PATCH", f"{CUSTOM}/{rule['id']}", {"name": name})
    assert renamed.status_code == 400
    assert renamed.json()["details"][0]["argument_name"] == "name"
    assert CustomAlertRule.objects.get().name == "Fine"


def test_the_services_refuse_a_rule_name_with_control_characters(owner, acme):
    with pytest.raises(RuleNameError):
        services.custom_alert_rule_create(
            actor=Actor.of(owner), organization=acme, region="fr-par", name="a\r\nb", query="true"
        )
    rule = services.custom_alert_rule_create(
        actor=Actor.of(owner), organization=acme, region="fr-par", name="  Spaces around  ", query="true"
    )
    assert rule.name == "Spaces around"
    with pytest.raises(RuleNameError):
        services.custom_alert_rule_update(actor=Actor.of(owner), rule=rule, name="x\ny")


def test_an_alert_of_a_rule_named_with_a_line_break_before_the_fix_is_still_e_mailed(
    acme, security_contact, django_capture_on_commit_callbacks
):
    """Rows saved before the check: the subject is made safe when the e-mail is built."""
    CustomAlertRule.objects.create(
        organization=acme,
        region="fr-par",
        name="Refused\r\nBcc: victim@example.org",
        query="status_code == 403",
    )
    acme.name = "Acme\nCorp"
    acme.save()
    with django_capture_on_commit_callbacks(execute=True):
        forbidden_events(acme, 1)
    alert = Alert.objects.get(organization=acme)
    assert alert.notification_status == Alert.Notification.SENT
    (message,) = mail.outbox
    assert message.subject == "[Audit Trail] Info: Refused Bcc: victim@example.org in Acme Corp (fr-par)"
    assert message.recipients() == ["sec@acme.test"]
    assert message.message()["Bcc"] is None  # no header was injected
