from django.urls import path

from findings import exclusion_views, finding_views, inventory_views

urlpatterns = [
    path("findings/", finding_views.findings_list, name="findings"),
    path("findings/export.csv", finding_views.findings_export_csv, name="findings_export_csv"),
    path("findings/export.json", finding_views.findings_export_json, name="findings_export_json"),
    path("findings/<int:pk>/", finding_views.finding_detail, name="finding"),
    path("findings/exclusions/", exclusion_views.exclusion_list, name="exclusions"),
    path("findings/exclusions/new/", exclusion_views.exclusion_add, name="exclusion_add"),
    path("findings/exclusions/<int:pk>/end/", exclusion_views.exclusion_end, name="exclusion_end"),
    path("inventory/", inventory_views.users, name="inventory"),
    path("inventory/users/", inventory_views.users, name="inventory_users"),
    path("inventory/users/<int:pk>/", inventory_views.user_detail, name="inventory_user"),
    path("inventory/roles/", inventory_views.roles, name="inventory_roles"),
    path("inventory/roles/<int:pk>/", inventory_views.role_detail, name="inventory_role"),
]
