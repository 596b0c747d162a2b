from django.urls import path

from findings.monitoring import views

urlpatterns = [path("metrics", views.metrics, name="metrics")]
