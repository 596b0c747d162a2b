from django.urls import path

from findings import views

urlpatterns = [
    path("review/", views.review, name="review"),
]
