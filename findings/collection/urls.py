from django.urls import path

from findings.collection import views

urlpatterns = [
    path("collection/", views.collection, name="collection"),
    path("collection/import/", views.collection_import, name="collection_import"),
    path("collection/accounts/", views.aws_accounts, name="aws_accounts"),
    path("collection/accounts/new/", views.aws_account_add, name="aws_account_add"),
    path("collection/accounts/<int:pk>/", views.aws_account, name="aws_account"),
    path("collection/accounts/<int:pk>/edit/", views.aws_account_edit, name="aws_account_edit"),
    path(
        "collection/accounts/<int:pk>/toggle/", views.aws_account_toggle, name="aws_account_toggle"
    ),
    path("collection/accounts/<int:pk>/collect/", views.collect_account, name="collect_account"),
]
