from django.urls import path

from findings.dashboard import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
