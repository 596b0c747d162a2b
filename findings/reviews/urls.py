from django.urls import path

from findings.reviews import views

urlpatterns = [
    path("review/", views.review, name="review"),
    path("review/open/", views.review_open, name="review_open"),
    path("review/releases/", views.review_release, name="review_release"),
    path("review/audit/", views.review_audit, name="review_audit"),
    path("review/audit/export.csv", views.review_audit_csv, name="review_audit_csv"),
    path("review/audit/verify/", views.review_audit_verify, name="review_audit_verify"),
    path("review/cycles/<int:pk>/", views.review_cycle, name="review_cycle"),
    path("review/cycles/<int:pk>/bulk/", views.review_bulk, name="review_bulk"),
    path("review/cycles/<int:pk>/assign/", views.review_assign, name="review_assign"),
    path("review/cycles/<int:pk>/sign-off/", views.review_sign_off, name="review_sign_off"),
    path(
        "review/cycles/<int:pk>/evidence.zip",
        views.review_evidence_pack,
        name="review_evidence_pack",
    ),
    path("review/items/<int:pk>/", views.review_item, name="review_item"),
    path("review/items/<int:pk>/decide/", views.review_decide, name="review_decide"),
]
