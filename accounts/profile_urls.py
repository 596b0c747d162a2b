from django.urls import path

from accounts import profile_views as views

urlpatterns = [
    path("", views.profile, name="profile"),
    path("identities/", views.identity_add, name="profile_identity_add"),
    path("identities/<int:pk>/remove/", views.identity_remove, name="profile_identity_remove"),
    path("tokens/", views.token_create, name="profile_token_create"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="profile_token_revoke"),
    path("digest/", views.digest_update, name="profile_digest"),
]
