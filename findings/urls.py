from django.urls import include, path

from findings import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("review/", views.review, name="review"),
    path("findings/", views.findings_list, name="findings"),
    path("inventory/", views.inventory, name="inventory"),
    path("", include("findings.collection_urls")),
]
