from django.urls import path

from findings.rightsizing import views

urlpatterns = [
    path("rightsizing/", views.rightsizing, name="rightsizing"),
    path("rightsizing/export.<str:fmt>", views.export, name="rightsizing_export"),
    path(
        "rightsizing/<str:kind>/<int:pk>/<str:fmt>/",
        views.download,
        name="rightsizing_download",
    ),
    path(
        "inventory/roles/<int:pk>/generate-policy/",
        views.generate_from_cloudtrail,
        name="rightsizing_generate",
    ),
    path(
        "inventory/roles/<int:pk>/generated-policy/",
        views.generation_status,
        name="rightsizing_generation",
    ),
]
