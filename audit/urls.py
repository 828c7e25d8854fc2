from __future__ import annotations

from django.urls import path

from audit import views

app_name = "audit"
urlpatterns = [
    path("events/", views.event_list, name="events"),
    path("events/facets/", views.event_facet_list, name="event_facets"),
    path("events/timeline/", views.event_timeline_list, name="event_timeline"),
    path("events/<uuid:event_id>/", views.event_detail, name="event"),
    path("sign-ins/", views.sign_in_list, name="sign_ins"),
]
