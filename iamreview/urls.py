from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from iamreview.errors import AdminLoginView
from iamreview.health import healthz

urlpatterns = [
    path("", include("findings.urls")),
    path("accounts/", include("accounts.urls")),
    # Beside the API, not in it: every path under /api/ that the OpenAPI document does not
    # describe answers JSON.
    path("api/docs", include("findings.api.docs")),
    path("api/", include("findings.api.urls")),
    # One login page for the whole app: the admin's own login redirects to it.
    path("admin/login/", login_not_required(AdminLoginView.as_view())),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
