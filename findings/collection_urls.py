from django.urls import path

from findings import views

urlpatterns = [
    path("collection/", views.collection, name="collection"),
]
