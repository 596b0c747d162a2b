"""Upgrades that rewrite stored data: each runs on rows as the version before left them."""

from contextlib import contextmanager

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from findings.models import IamRole, ReviewItem, Webhook, WebhookDelivery
from findings.reviews.substance import substance_hash

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

        # Only the columns 0037 knows (the model today has more).
        webhooks = Webhook.objects.values_list("name", "events", "is_active")
        assert {name: (events, is_active) for name, events, is_active in webhooks} == {
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


def test_the_items_in_review_get_the_hash_their_change_mark_compares(postgres):
    """The mark compared the evidence hash, last-used dates and all. The upgrade gives each
    item of a cycle in review the hash fresh data is now compared with, the same a new cycle
    would store; a signed-off cycle's items stay as signed (PostgreSQL refuses any change)."""
    now = timezone.now()
    facts = {"user": "bob", "mfa_active": True, "password_last_used": "2026-11-30T08:00:00+00:00"}
    finding = {"id": 1, "check": "mfa-missing", "resource_key": "arn:bob", "severity": "high"}
    evidence = {"facts": facts, "findings": [finding], "policies": {"inline: app": None}}
    with before("0043_decision_decider_teams") as (old, upgrade_to):
        account = old.get_model("findings", "AwsAccount").objects.create(
            account_id="111122223333", name="Production"
        )
        cycles = old.get_model("findings", "ReviewCycle").objects
        in_review, signed = (
            cycles.create(kind="quarterly", title=title, opened_at=now, due_on=now.date(),
                          population_hash="p", population_count=1)
            for title in ("2026-Q4", "2026-Q3")
        )  # fmt: skip
        for cycle in (in_review, signed):
            old.get_model("findings", "ReviewItem").objects.create(
                cycle=cycle, account=account, subject_type="user", subject_arn="arn:bob",
                subject_key="user:arn:bob", title="bob", frozen_evidence=evidence,
                evidence_hash="e",
            )  # fmt: skip
        cycles.filter(pk=signed.pk).update(state="signed_off", signed_off_at=now)
        upgrade_to("0044_review_item_substance_hash")

        stored = dict(ReviewItem.objects.values_list("cycle_id", "substance_hash"))
        assert stored == {in_review.pk: substance_hash(evidence=evidence), signed.pk: None}
        signed_in = {**evidence, "facts": {**facts, "password_last_used": now.isoformat()}}
        assert substance_hash(evidence=signed_in) == stored[in_review.pk]
