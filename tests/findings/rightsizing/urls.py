"""The pages without the API (being rewritten on another branch)."""

from django.urls import include, path

urlpatterns = [
    path("", include("findings.urls")),
    path("accounts/", include("accounts.urls")),
]
