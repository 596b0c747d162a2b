from django.urls import path

from findings.inventory import views

urlpatterns = [
    path("inventory/", views.users, name="inventory"),
    path("inventory/users/", views.users, name="inventory_users"),
    path("inventory/users/<int:pk>/", views.user_detail, name="inventory_user"),
    path("inventory/roles/", views.roles, name="inventory_roles"),
    path("inventory/roles/<int:pk>/", views.role_detail, name="inventory_role"),
]
