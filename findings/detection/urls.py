from django.urls import path

from findings.detection import exclusion_views, views

urlpatterns = [
    path("findings/", views.findings_list, name="findings"),
    path("findings/export.csv", views.findings_export_csv, name="findings_export_csv"),
    path("findings/export.json", views.findings_export_json, name="findings_export_json"),
    path("findings/<int:pk>/", views.finding_detail, name="finding"),
    path("findings/exclusions/", exclusion_views.exclusion_list, name="exclusions"),
    path("findings/exclusions/new/", exclusion_views.exclusion_add, name="exclusion_add"),
    path("findings/exclusions/<int:pk>/end/", exclusion_views.exclusion_end, name="exclusion_end"),
]
