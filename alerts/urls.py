from __future__ import annotations

from django.urls import path

from alerts import views

app_name = "alerts"
urlpatterns = [
    path("audit-trail/alerting/", views.management, name="management"),
    path("audit-trail/alerting/custom-rules/new/", views.custom_rule_create, name="custom-rule-create"),
    path(
        "audit-trail/alerting/custom-rules/<uuid:rule_id>/delete/",
        views.custom_rule_delete,
        name="custom-rule-delete",
    ),
    path("contacts/", views.contacts, name="contacts"),
    path("contacts/<uuid:contact_id>/", views.contact_update, name="contact-update"),
    path("contacts/<uuid:contact_id>/delete/", views.contact_delete, name="contact-delete"),
]
