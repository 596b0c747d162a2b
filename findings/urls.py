"""Every page of the findings app, one include per concern (the API is mounted at /api/)."""

from django.urls import include, path

urlpatterns = [
    path("", include("findings.dashboard.urls")),
    path("", include("findings.reviews.urls")),
    path("", include("findings.detection.urls")),
    path("", include("findings.inventory.urls")),
    path("", include("findings.rightsizing.urls")),
    path("", include("findings.collection.urls")),
    path("", include("findings.monitoring.urls")),
]
