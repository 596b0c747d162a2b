from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from iamreview.health import healthz

urlpatterns = [
    path("", include("findings.urls")),
    path("accounts/", include("accounts.urls")),
    # Beside the API, not in it: every path under /api/ that the OpenAPI document does not
    # describe answers JSON.
    path("api/docs", include("findings.api.docs")),
    path("api/", include("findings.api.urls")),
    # One login page for the whole app: the admin's own login redirects to it.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
