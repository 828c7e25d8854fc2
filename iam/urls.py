from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from iam import views

iam_patterns = (
    [
        path("users/", views.user_list, name="users"),
        path("users/invite/", views.user_invite, name="user-invite"),
        path("users/<uuid:user_id>/remove/", views.member_remove, name="member-remove"),
        path("invitations/<uuid:pk>/cancel/", views.invitation_cancel, name="invitation-cancel"),
        path("invitations/<str:token>/", views.invitation_respond, name="invitation"),
        path("applications/", views.application_list, name="applications"),
        path("applications/create/", views.application_create, name="application-create"),
        path("applications/<uuid:pk>/", views.application_detail, name="application"),
        path("applications/<uuid:pk>/delete/", views.application_delete, name="application-delete"),
        path("groups/", views.group_list, name="groups"),
        path("groups/create/", views.group_create, name="group-create"),
        path("groups/<uuid:pk>/", views.group_detail, name="group"),
        path("groups/<uuid:pk>/delete/", views.group_delete, name="group-delete"),
        path("groups/<uuid:pk>/members/add/", views.group_member_add, name="group-member-add"),
        path("groups/<uuid:pk>/members/remove/", views.group_member_remove, name="group-member-remove"),
        path("policies/", views.policy_list, name="policies"),
        path("policies/new/", views.policy_create, name="policy-create"),
        path("policies/<uuid:pk>/", views.policy_detail, name="policy"),
        path("policies/<uuid:pk>/delete/", views.policy_delete, name="policy-delete"),
        path("api-keys/", views.api_key_list, name="api-keys"),
        path("api-keys/create/", views.api_key_create, name="api-key-create"),
        path("api-keys/<str:access_key>/created/", views.api_key_created, name="api-key-created"),
        path("api-keys/<str:access_key>/delete/", views.api_key_delete, name="api-key-delete"),
        path("logs/", views.log_list, name="logs"),
        path("logs/<uuid:pk>/", views.log_detail, name="log"),
    ],
    "iam",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organization/switch/", views.organization_switch, name="organization-switch"),
    path("preferences/time-display/", views.time_display, name="time-display"),
    path("iam/", include(iam_patterns)),
]
