from django.urls import path

from findings.api import views as api

urlpatterns = [
    path("releases", api.releases, name="api-releases"),
    path("cycles", api.cycles, name="api-cycles"),
    path("cycles/<int:cycle_id>", api.cycle, name="api-cycle"),
    path("cycles/<int:cycle_id>/evidence", api.cycle_evidence, name="api-cycle-evidence"),
    path("cycles/<int:cycle_id>/sign-off", api.cycle_sign_off, name="api-cycle-sign-off"),
    path("items/<int:item_id>/decisions", api.item_decisions, name="api-item-decisions"),
    path("findings", api.findings, name="api-findings"),
    path("schema", api.schema, name="api-schema"),
    # Last: any other path under /api/ answers JSON, not the HTML 404 page.
    path("<path:rest>", api.unknown, name="api-unknown"),
]
