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
]
