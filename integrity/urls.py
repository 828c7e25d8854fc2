from __future__ import annotations

from django.urls import path

from integrity import views

app_name = "integrity"
urlpatterns = [
    path("audit-trail/integrity/", views.page, name="page"),
    path("audit-trail/integrity/events/<uuid:event_id>/", views.event_proof, name="event"),
]
