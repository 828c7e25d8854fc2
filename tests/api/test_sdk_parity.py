"""Acceptance (issue 11): both Python SDKs, `scaleway` and `scaleway-async` 2.12.0, unchanged, call
every method `AuditTrailV1Alpha1API` defines and IAM's logs and API-key methods against a live
server, and each answer is what the console reads from the database.

The same calls run through each SDK: the async one's coroutines are awaited one at a time with
`asyncio.run`, so that the ORM reads between them stay synchronous. The guard test fails when an
SDK method is neither called here nor listed in IAM_OUT_OF_SCOPE_BY_REASON.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from scaleway import Client
from scaleway.audit_trail.v1alpha1 import (
    AlertRuleStatus,
    AuditTrailV1Alpha1API,
    CustomAlertRuleSeverity,
    CustomAlertRuleStatus,
    ExportJobS3,
    ListExportJobsRequestOrderBy,
)
from scaleway.iam.v1alpha1 import IamV1Alpha1API, ListLogsRequestOrderBy
from scaleway_async import Client as AsyncClient
from scaleway_async.audit_trail.v1alpha1 import AuditTrailV1Alpha1API as AsyncAuditTrailV1Alpha1API
from scaleway_async.iam.v1alpha1 import IamV1Alpha1API as AsyncIamV1Alpha1API

from alerts.models import AlertRuleSetting, CustomAlertRule
from alerts.rules import PRECONFIGURED, PRECONFIGURED_BY_NAME
from audit.models import AuthenticationEvent, Event, SystemEvent
from audit.selectors import EARLIEST, EventQuery, event_queryset
from exports.models import ExportJob
from iam.logs import iam_log_events
from iam.models import APIKey
from tests.alerts.test_api_sdk import checked_on_the_tab
from tests.api.conftest import make_events

pytestmark = pytest.mark.django_db(transaction=True)

# The Audit Trail methods this test calls: every one the SDK defines (the guard checks).
AUDIT_TRAIL_CALLED = {
    "list_events",
    "list_authentication_events",
    "list_combined_events",
    "list_system_events",
    "list_products",
    "get_last_events_overview",
    "create_export_job",
    "list_export_jobs",
    "list_export_jobs_all",
    "delete_export_job",
    "list_alert_rules",
    "list_alert_rules_all",
    "enable_alert_rules",
    "disable_alert_rules",
    "set_enabled_alert_rules",
    "create_custom_alert_rule",
    "list_custom_alert_rules",
    "list_custom_alert_rules_all",
    "update_custom_alert_rule",
    "delete_custom_alert_rule",
    "enable_custom_alert_rules",
    "disable_custom_alert_rules",
    "set_enabled_custom_alert_rules",
}
# IAM's logs and API keys: the acceptance's scope.
IAM_CALLED = {
    "list_logs",
    "list_logs_all",
    "get_log",
    "create_api_key",
    "get_api_key",
    "update_api_key",
    "list_api_keys",
    "list_api_keys_all",
    "delete_api_key",
}
IAM_OUT_OF_SCOPE_BY_REASON = {
    (
        "IAM's other resources, served but outside issue 11's scope (logs and API keys): each is checked "
        "through the JS SDK in test_js_sdk.py, most through the sync SDK in test_sdk_iam.py"
    ): [
        "add_group_member",
        "add_group_members",
        "clone_policy",
        "create_application",
        "create_group",
        "create_policy",
        "create_user",
        "delete_application",
        "delete_group",
        "delete_policy",
        "delete_user",
        "get_application",
        "get_group",
        "get_policy",
        "get_user",
        "list_applications",
        "list_applications_all",
        "list_groups",
        "list_groups_all",
        "list_permission_sets",
        "list_permission_sets_all",
        "list_policies",
        "list_policies_all",
        "list_rules",
        "list_rules_all",
        "list_users",
        "list_users_all",
        "remove_group_member",
        "set_group_members",
        "set_rules",
        "update_application",
        "update_group",
        "update_policy",
    ],
    "SSH keys (no servers to log into)": [
        "create_ssh_key",
        "delete_ssh_key",
        "get_ssh_key",
        "list_ssh_keys",
        "list_ssh_keys_all",
        "update_ssh_key",
    ],
    "accounts: a user edits their own profile, password, MFA and passkeys in the console": [
        "create_user_mfaotp",
        "delete_user_mfaotp",
        "validate_user_mfaotp",
        "update_user",
        "update_user_password",
        "update_user_username",
        "lock_user",
        "unlock_user",
        "list_grace_periods",
        "get_user_connections",
        "initiate_user_connection",
        "join_user_connection",
        "remove_user_connection",
        "start_user_web_authn_registration",
        "finish_user_web_authn_registration",
        "list_user_web_authn_authenticators",
        "list_user_web_authn_authenticators_all",
        "update_web_authn_authenticator",
        "delete_web_authn_authenticator",
    ],
    "quotas (none)": ["get_quotum", "list_quota", "list_quota_all"],
    "JWTs (console sessions are Django's)": [
        "create_jwt",
        "delete_jwt",
        "get_jwt",
        "list_jw_ts",
        "list_jw_ts_all",
    ],
    "organization settings, login methods, SAML and SCIM": [
        "get_organization",
        "set_organization_alias",
        "get_organization_security_settings",
        "update_organization_security_settings",
        "update_organization_login_methods",
        "get_organization_saml",
        "enable_organization_saml",
        "update_saml",
        "delete_saml",
        "parse_saml_metadata",
        "get_saml_certificate",
        "list_saml_certificates",
        "add_saml_certificate",
        "delete_saml_certificate",
        "get_organization_scim",
        "enable_organization_scim",
        "delete_scim",
        "create_scim_token",
        "delete_scim_token",
        "list_scim_tokens",
        "list_scim_tokens_all",
    ],
}
IAM_OUT_OF_SCOPE = {m for methods in IAM_OUT_OF_SCOPE_BY_REASON.values() for m in methods}

SDKS = {
    "sync": (Client, AuditTrailV1Alpha1API, IamV1Alpha1API),
    "async": (AsyncClient, AsyncAuditTrailV1Alpha1API, AsyncIamV1Alpha1API),
}


def public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


class Calls:
    """One SDK's API object: each method called synchronously, the async SDK's awaited in its own
    event loop; records which methods were called."""

    def __init__(self, api: Any, flavour: str, called: set[str]):
        self._api, self._flavour, self._called = api, flavour, called

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._api, name)

        def call(**kwargs: Any) -> Any:
            self._called.add(name)
            result = method(**kwargs)
            if self._flavour == "async":
                assert inspect.iscoroutine(result), name  # the async SDK really is async
                return asyncio.run(result)
            assert not inspect.isawaitable(result), name
            return result

        return call


def apis(flavour, live_server, organization, key, called: set[str]) -> tuple[Calls, Calls]:
    client_class, trail_class, iam_class = SDKS[flavour]
    access_key, secret_key = key
    client = client_class(
        access_key=access_key,
        secret_key=secret_key,
        api_url=live_server.url,
        default_region="fr-par",
        default_organization_id=str(organization.pk),
    )
    return Calls(trail_class(client), flavour, called), Calls(iam_class(client), flavour, called)


def ids(items) -> list[str]:
    return [str(item.id) for item in items]


def console_event_ids(organization, **filters) -> list[str]:
    qs = event_queryset(organization_id=organization.pk, query=EventQuery(region="fr-par", **filters))
    return [str(pk) for pk in qs.order_by("-recorded_at", "-id").values_list("id", flat=True)]


def in_window(model, organization, window, **filters) -> list[Any]:
    return list(
        model.objects.filter(
            organization_id=organization.pk,
            recorded_at__gte=window[0],
            recorded_at__lte=window[1],
            **filters,
        ).order_by("-recorded_at", "-id")
    )


def test_both_sdks_define_the_same_methods_and_each_is_called_or_out_of_scope():
    for flavour, (_, trail_class, iam_class) in SDKS.items():
        assert public_methods(trail_class) == AUDIT_TRAIL_CALLED, flavour
        assert public_methods(iam_class) == IAM_CALLED | IAM_OUT_OF_SCOPE, flavour
        assert not IAM_CALLED & IAM_OUT_OF_SCOPE


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_sdk_calls_every_audit_trail_and_iam_key_and_log_method_and_gets_what_the_console_shows(
    flavour, live_server, acme, owner, owner_key, owner_client, project, settings, tmp_path
):
    settings.EXPORT_LOCAL_DIR = str(tmp_path / "exports")  # no S3 endpoint: a bucket is a directory
    settings.EXPORT_S3_ENDPOINTS = {}
    called: set[str] = set()
    trail, iam = apis(flavour, live_server, acme, owner_key, called)
    now = timezone.now()
    window = (now - timedelta(hours=2), now + timedelta(minutes=5))
    span = {"recorded_after": window[0], "recorded_before": window[1]}
    make_events(
        acme, 4, start=now - timedelta(minutes=100), step=timedelta(minutes=10), project_id=project.pk
    )
    make_events(
        acme,
        3,
        start=now - timedelta(minutes=30),
        step=timedelta(minutes=5),
        product_name="kubernetes",
        service_name="scaleway.k8s.v1.Api",
        method_name="CreateCluster",
        status_code=403,
    )
    make_events(acme, 2, locality="nl-ams")  # another region: not listed under fr-par
    sign_in = AuthenticationEvent.objects.create(
        organization_id=acme.pk,
        user_id=owner.pk,
        email=owner.email,
        result="success",
        source_ip="192.0.2.1",
        recorded_at=now - timedelta(minutes=20),
    )
    console_job = ExportJob.objects.create(
        organization=acme, region="fr-par", name="console-job", bucket="console-bucket", s3_region="nl-ams"
    )

    # Export jobs: the SDK's own is created, runs at once (a system event), and is listed beside
    # the console's; then deleted.
    job = trail.create_export_job(
        name=f"sdk-{flavour}", s3=ExportJobS3(bucket="audit", region="fr-par", prefix=f"{flavour}/")
    )
    stored = ExportJob.objects.get(pk=job.id)
    assert (job.name, job.organization_id) == (stored.name, str(acme.pk)) == (f"sdk-{flavour}", str(acme.pk))
    assert (job.s3.bucket, job.s3.region, job.s3.prefix) == ("audit", "fr-par", flavour)  # stored: no "/"
    jobs = [(str(j.pk), j.name, j.bucket, j.s3_region) for j in ExportJob.objects.order_by("name")]
    assert len(jobs) == 2
    listed_jobs = trail.list_export_jobs(order_by=ListExportJobsRequestOrderBy.NAME_ASC, page_size=100)
    assert listed_jobs.total_count == 2
    assert [(j.id, j.name, j.s3.bucket, j.s3.region) for j in listed_jobs.export_jobs] == jobs
    every_job = trail.list_export_jobs_all(order_by=ListExportJobsRequestOrderBy.NAME_ASC, page_size=1)
    assert [(j.id, j.name, j.s3.bucket, j.s3.region) for j in every_job] == jobs

    # The reads: events, sign-ins, system events and all three merged, products, the overview.
    events = console_event_ids(acme, recorded_after=window[0], recorded_before=window[1])
    # 4 + 3 in fr-par, the owner key's CreateAPIKey (global, listed under fr-par), CreateExportJob
    assert len(events) == 9
    listed = trail.list_events(page_size=1000, **span)
    assert ids(listed.events) == events and listed.next_page_token is None
    by_id = {str(e.id): e for e in Event.objects.filter(pk__in=events)}
    assert [(e.method_name, e.product_name, e.status_code, e.locality) for e in listed.events] == [
        (by_id[pk].method_name, by_id[pk].product_name, by_id[pk].status_code, by_id[pk].locality)
        for pk in events
    ]

    sign_ins = trail.list_authentication_events(page_size=1000, **span)
    assert ids(sign_ins.events) == [str(sign_in.id)]
    assert sign_ins.events[0].result == "success"

    runs = in_window(SystemEvent, acme, window, region="fr-par")
    assert [r.resources[0]["id"] for r in runs] == [job.id]  # the SDK's job ran
    system = trail.list_system_events(page_size=1000, **span)
    assert ids(system.events) == [str(r.id) for r in runs]
    assert system.events[0].resources[0].id == job.id

    combined = trail.list_combined_events(page_size=1000, **span)
    expected = sorted(
        [(e.recorded_at, e.id, "api") for e in Event.objects.filter(pk__in=events)]
        + [(sign_in.recorded_at, sign_in.id, "auth")]
        + [(r.recorded_at, r.id, "system") for r in runs],
        reverse=True,
    )
    kinds = [
        ("api", c.api.id) if c.api else ("auth", c.auth.id) if c.auth else ("system", c.system.id)
        for c in combined.events
    ]
    assert kinds == [(kind, str(pk)) for _, pk, kind in expected]

    products = trail.list_products()
    names = set(Event.objects.filter(organization_id=acme.pk, region="fr-par").values_list("product_name"))
    assert {p.name for p in products.products} == {name for (name,) in names}
    assert products.total_count == len(names) == 4  # secret-manager, kubernetes, iam, audit-trail

    overview = trail.get_last_events_overview()
    assert ids(overview.last_events) == console_event_ids(acme, recorded_after=EARLIEST)[:10]
    assert ids(trail.get_last_events_overview(project_id=str(project.pk)).last_events) == console_event_ids(
        acme, recorded_after=EARLIEST, project_id=project.pk
    )

    trail.delete_export_job(export_job_id=job.id)
    assert list(ExportJob.objects.filter(organization=acme)) == [console_job]

    # Preconfigured alert rules, as the Alerting Management tab shows them.
    rules = trail.list_alert_rules()
    assert rules.total_count == len(PRECONFIGURED) == 5
    assert [(r.id, r.name, r.status) for r in rules.alert_rules] == [
        (str(rule.id), rule.name, AlertRuleStatus.DISABLED) for rule in PRECONFIGURED
    ]
    rule_id = {name: str(rule.id) for name, rule in PRECONFIGURED_BY_NAME.items()}
    enabled = trail.enable_alert_rules(alert_rule_ids=[rule_id["ApiKeyCreated"], rule_id["ApiKeyDeleted"]])
    assert {(r.name, r.status) for r in enabled.alert_rules} == {
        ("ApiKeyCreated", AlertRuleStatus.ENABLED),
        ("ApiKeyDeleted", AlertRuleStatus.ENABLED),
    }
    assert checked_on_the_tab(owner_client) == {"ApiKeyCreated", "ApiKeyDeleted"}
    disabled = trail.disable_alert_rules(alert_rule_ids=[rule_id["ApiKeyCreated"]])
    assert [(r.name, r.status) for r in disabled.alert_rules] == [("ApiKeyCreated", AlertRuleStatus.DISABLED)]
    assert checked_on_the_tab(owner_client) == {"ApiKeyDeleted"}
    replaced = trail.set_enabled_alert_rules(enabled_alert_rule_ids=[rule_id["HttpForbiddenErrorRateHigh"]])
    assert {r.name for r in replaced.alert_rules if r.status == AlertRuleStatus.ENABLED} == {
        "HttpForbiddenErrorRateHigh"
    }
    assert checked_on_the_tab(owner_client) == {"HttpForbiddenErrorRateHigh"}
    assert set(
        AlertRuleSetting.objects.filter(organization=acme, region="fr-par", enabled=True).values_list(
            "rule_name", flat=True
        )
    ) == {"HttpForbiddenErrorRateHigh"}
    every_rule = trail.list_alert_rules_all(page_size=2)
    assert [(r.name, r.status == AlertRuleStatus.ENABLED) for r in every_rule] == [
        (rule.name, rule.name == "HttpForbiddenErrorRateHigh") for rule in PRECONFIGURED
    ]

    # Custom alert rules, from creation to deletion.
    probing = trail.create_custom_alert_rule(
        name="Refused secret reads",
        query='status_code == 403 && product_name == "secret-manager"',
        occurrences=5,
        evaluation_window="600s",
        description="Someone probes our secrets",
    )
    churn = trail.create_custom_alert_rule(
        name="Key churn",
        query='method_name == "DeleteAPIKey"',
        occurrences=1,
        severity=CustomAlertRuleSeverity.WARNING,
    )
    stored_rule = CustomAlertRule.objects.get(pk=probing.id)
    assert (probing.name, probing.occurrences, probing.evaluation_window, probing.status) == (
        stored_rule.name,
        stored_rule.occurrences,
        f"{int(stored_rule.evaluation_window.total_seconds())}s",
        CustomAlertRuleStatus.ENABLED,
    )
    assert CustomAlertRule.objects.get(pk=churn.id).severity == "warning"
    custom = trail.list_custom_alert_rules()
    console_rules = [
        (str(r.pk), r.name) for r in CustomAlertRule.objects.filter(organization=acme).order_by("name")
    ]
    assert custom.total_count == 2
    assert [(r.id, r.name) for r in custom.custom_alert_rules] == console_rules
    assert [(r.id, r.name) for r in trail.list_custom_alert_rules_all(page_size=1)] == console_rules
    updated = trail.update_custom_alert_rule(custom_alert_rule_id=probing.id, name="Secret probing")
    assert (updated.id, updated.name, updated.description) == (
        probing.id,
        "Secret probing",
        "Someone probes our secrets",
    )
    assert CustomAlertRule.objects.get(pk=probing.id).name == "Secret probing"
    off = trail.disable_custom_alert_rules(custom_alert_rule_ids=[probing.id, churn.id])
    assert {(r.id, r.status) for r in off.custom_alert_rules} == {
        (probing.id, CustomAlertRuleStatus.DISABLED),
        (churn.id, CustomAlertRuleStatus.DISABLED),
    }
    assert not CustomAlertRule.objects.filter(enabled=True).exists()
    on = trail.enable_custom_alert_rules(custom_alert_rule_ids=[churn.id])
    assert [(r.id, r.status) for r in on.custom_alert_rules] == [(churn.id, CustomAlertRuleStatus.ENABLED)]
    assert list(CustomAlertRule.objects.filter(enabled=True).values_list("name", flat=True)) == ["Key churn"]
    swapped = trail.set_enabled_custom_alert_rules(enabled_custom_alert_rule_ids=[probing.id])
    assert {r.name: r.status for r in swapped.custom_alert_rules} == {
        "Key churn": CustomAlertRuleStatus.DISABLED,
        "Secret probing": CustomAlertRuleStatus.ENABLED,
    }
    assert list(CustomAlertRule.objects.filter(enabled=True).values_list("name", flat=True)) == [
        "Secret probing"
    ]
    assert trail.delete_custom_alert_rule(custom_alert_rule_id=churn.id) is None
    assert list(CustomAlertRule.objects.values_list("name", flat=True)) == ["Secret probing"]
    assert "Secret probing" in owner_client.get("/audit-trail/alerting/").content.decode()

    # IAM logs: the key creations, oldest first, as IAM Logs lists them.
    logs = [str(e.id) for e in iam_log_events(organization_id=acme.pk, ascending=True)]
    assert len(logs) == 1  # the owner key's creation
    log_page = iam.list_logs(order_by=ListLogsRequestOrderBy.CREATED_AT_ASC, page_size=100)
    assert (ids(log_page.logs), log_page.total_count) == (logs, 1)
    assert (log_page.logs[0].action, log_page.logs[0].resource_type, log_page.logs[0].resource_id) == (
        "created",
        "api_key",
        owner_key[0],
    )
    assert ids(iam.list_logs_all(order_by=ListLogsRequestOrderBy.CREATED_AT_ASC, page_size=1)) == logs
    assert iam.get_log(log_id=logs[0]) == log_page.logs[0]

    # API keys: created, read, renamed, listed with the others, deleted.
    created = iam.create_api_key(user_id=str(owner.pk), description=f"sdk-{flavour}")
    assert (created.user_id, created.description) == (str(owner.pk), f"sdk-{flavour}")
    assert APIKey.objects.get(access_key=created.access_key).description == f"sdk-{flavour}"
    assert uuid.UUID(created.secret_key)
    read = iam.get_api_key(access_key=created.access_key)
    assert (read.access_key, read.description, read.secret_key) == (
        created.access_key,
        f"sdk-{flavour}",
        None,
    )
    renamed = iam.update_api_key(access_key=created.access_key, description=f"sdk-{flavour}, renamed")
    assert (renamed.access_key, renamed.description) == (created.access_key, f"sdk-{flavour}, renamed")
    keys = dict(APIKey.objects.filter(organization=acme).values_list("access_key", "description"))
    assert keys[created.access_key] == f"sdk-{flavour}, renamed" and len(keys) == 2
    key_page = iam.list_api_keys(page_size=100)
    assert key_page.total_count == 2
    assert {k.access_key: k.description for k in key_page.api_keys} == keys
    assert all(k.secret_key is None for k in key_page.api_keys)
    assert {k.access_key: k.description for k in iam.list_api_keys_all(page_size=1)} == keys
    assert iam.delete_api_key(access_key=created.access_key) is None
    assert not APIKey.objects.filter(access_key=created.access_key).exists()

    # Every method was called; each write is in the trail under the owner and the SDK's user agent.
    assert called == AUDIT_TRAIL_CALLED | IAM_CALLED
    writes = {
        ("CreateExportJob", job.id),
        ("DeleteExportJob", job.id),
        ("CreateAPIKey", created.access_key),
        ("UpdateAPIKey", created.access_key),
        ("DeleteAPIKey", created.access_key),
    }
    recorded = {
        (e.method_name, e.resources[0]["id"])
        for e in Event.objects.filter(
            organization_id=acme.pk,
            principal_id=owner.pk,
            status_code=200,
            user_agent__startswith="scaleway-sdk-python/",
        )
        if e.resources
    }
    assert writes <= recorded
    assert {
        "EnableAlertRules",
        "DisableAlertRules",
        "SetEnabledAlertRules",
        "CreateCustomAlertRule",
        "UpdateCustomAlertRule",
        "EnableCustomAlertRules",
        "DisableCustomAlertRules",
        "SetEnabledCustomAlertRules",
        "DeleteCustomAlertRule",
    } <= set(
        Event.objects.filter(
            organization_id=acme.pk, principal_id=owner.pk, user_agent__startswith="scaleway-sdk-python/"
        ).values_list("method_name", flat=True)
    )
