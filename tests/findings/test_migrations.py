"""Upgrades that rewrite stored data: each runs on rows as the version before left them."""

from contextlib import contextmanager

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from findings.models import IamRole, Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def before(migration: str):
    """The database as findings' `migration` left it: yields that version's models and a
    function that upgrades to a later migration. Ends at the latest migration, however the
    test ends."""
    executor = MigrationExecutor(connection)
    executor.migrate([("findings", migration)])

    def upgrade_to(later: str) -> None:
        executor.loader.build_graph()
        executor.migrate([("findings", later)])

    try:
        yield executor.loader.project_state([("findings", migration)]).apps, upgrade_to
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_events_the_old_admin_stored_as_no_list_become_a_list_or_a_webhook_switched_off(postgres):
    """A string heard the events it named (by substring); a number or an object heard none, or
    stopped every webhook. None may start hearing every event ([]) by the upgrade."""
    stored = {
        "pager": "cycle.overdue",
        "both": "finding.critical, decision.remediate",
        "typo": "cycle.overdew",
        "number": 5,
        "object": {"a": 1},
        "fine": ["cycle.ready_to_sign"],
    }
    with before("0036_ascii_account_ids") as (old, upgrade_to):
        for name, events in stored.items():
            old.get_model("findings", "Webhook").objects.create(
                name=name, url="https://h.example.com/", secret="s", events=events
            )
        upgrade_to("0037_webhook_events_as_lists")

        assert {w.name: (w.events, w.is_active) for w in Webhook.objects.all()} == {
            "pager": (["cycle.overdue"], True),
            "both": (["finding.critical", "decision.remediate"], True),
            "typo": ([], False),
            "number": ([], False),
            "object": ([], False),
            "fine": (["cycle.ready_to_sign"], True),
        }


def test_answer_bodies_kept_by_older_versions_are_forgotten_by_the_upgrade(postgres):
    errors = ["HTTP 405: AccessKeyId=ASIAINTERNALSECRET", "Timeout: no answer within 10 s", ""]
    with before("0037_webhook_events_as_lists") as (old, upgrade_to):
        hook = old.get_model("findings", "Webhook").objects.create(
            name="h", url="https://h.example.com/", secret="s"
        )
        for n, error in enumerate(errors):
            old.get_model("findings", "WebhookDelivery").objects.create(
                webhook=hook, event="cycle.overdue", event_key=f"k{n}", payload={},
                next_attempt_at=timezone.now(), last_error=error,
            )  # fmt: skip
        upgrade_to("0038_webhook_answers_not_kept")

        assert sorted(WebhookDelivery.objects.values_list("last_error", flat=True)) == sorted(
            ["HTTP 405 (answer not kept)", "Timeout: no answer within 10 s", ""]
        )


def test_a_customer_role_merely_named_like_identity_center_is_no_longer_taken_for_one(postgres):
    now = timezone.now()
    stored = {
        # (name, path): is_sso as older versions stored it
        ("AWSReservedSSO_Admin_0123", "/aws-reserved/sso.amazonaws.com/"): True,
        ("AWSReservedSSO_Lookalike_0123", "/"): True,
        ("app", "/"): False,
    }
    with before("0038_webhook_answers_not_kept") as (old, upgrade_to):
        account = old.get_model("findings", "AwsAccount").objects.create(
            account_id="111122223333", name="Production"
        )
        for (name, path), is_sso in stored.items():
            old.get_model("findings", "IamRole").objects.create(
                account=account, arn=f"arn:aws:iam::111122223333:role{path}{name}", name=name,
                role_id=f"AROA{name.upper()}"[:128], path=path, create_date=now, is_sso=is_sso,
                fingerprint="f", first_seen_at=now, changed_at=now, last_seen_at=now,
            )  # fmt: skip
        upgrade_to("0039_sso_roles_by_path")

        assert dict(IamRole.objects.values_list("name", "is_sso")) == {
            "AWSReservedSSO_Admin_0123": True,
            "AWSReservedSSO_Lookalike_0123": False,
            "app": False,
        }
