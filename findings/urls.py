from django.urls import include, path

from findings import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("", include("findings.review_urls")),
    path("", include("findings.finding_urls")),
    path("", include("findings.collection_urls")),
]
