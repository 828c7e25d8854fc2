from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from iam import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organization/switch/", views.organization_switch, name="organization-switch"),
    path("preferences/time-display/", views.time_display, name="time-display"),
]
