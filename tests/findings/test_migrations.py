"""Upgrades that rewrite stored data: each runs on rows as the version before left them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from findings.models import AwsAccount, IamRole

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_role_merely_named_like_identity_center_is_no_longer_taken_for_one(postgres):
    before = ("findings", "0038_webhook_answers_not_kept")
    after = ("findings", "0039_sso_roles_by_path")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    state = executor.loader.project_state([before]).apps
    account = state.get_model("findings", "AwsAccount").objects.create(
        account_id="111122223333", name="Production"
    )
    now = timezone.now()
    stored = {
        # (name, path): is_sso as older versions stored it
        ("AWSReservedSSO_Admin_0123", "/aws-reserved/sso.amazonaws.com/"): True,
        ("AWSReservedSSO_Lookalike_0123", "/"): True,
        ("app", "/"): False,
    }
    try:
        for (name, path), is_sso in stored.items():
            state.get_model("findings", "IamRole").objects.create(
                account=account, arn=f"arn:aws:iam::111122223333:role{path}{name}", name=name,
                role_id=f"AROA{name.upper()}"[:128], path=path, create_date=now, is_sso=is_sso,
                fingerprint="f", first_seen_at=now, changed_at=now, last_seen_at=now,
            )  # fmt: skip
        executor.loader.build_graph()
        executor.migrate([after])

        assert dict(IamRole.objects.values_list("name", "is_sso")) == {
            "AWSReservedSSO_Admin_0123": True,
            "AWSReservedSSO_Lookalike_0123": False,
            "app": False,
        }
    finally:
        AwsAccount.objects.all().delete()
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
