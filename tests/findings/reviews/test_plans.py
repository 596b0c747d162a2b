"""Right-sizing inside reviews: items show the suggestion, "remediate" attaches it as the plan,
the evidence pack carries the plan, and fresh policies verify it (equal or narrower) or not."""

import json

import pytest
from django.db import transaction

from findings.models import AuditEntry, Decision, PolicyAttachment, ReviewItem
from findings.reviews.evidence_pack import build_evidence_pack
from findings.reviews.releases import open_release_cycle
from findings.reviews.services import (
    DecisionInput,
    Invalid,
    decide_item,
    open_cycle,
    verify_remediations,
)
from findings.rightsizing.services import refresh_suggestions
from tests.at_once import waiting_for_locks
from tests.findings.detection.test_detect import (
    ADMIN_POLICY,
    NOW,
    attach,
    iam_role,
    make_account,
    service_row,
)
from tests.findings.reviews.test_evidence import keep
from tests.findings.reviews.test_services import in_thread

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
BATCH = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "dynamodb:*", "sqs:*"], "Resource": "*"}
    ],
}
USED_PART = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
}


@pytest.fixture
def production():
    return make_account()


@pytest.fixture
def batch_role(production):
    role = iam_role(production, "legacy-checkout-batch-job")
    attach(production, role, BATCH, name="batch")
    service_row(production, role, "s3", used_days=2)
    service_row(production, role, "dynamodb", used_days=200)
    service_row(production, role, "sqs", used_days=None)
    refresh_suggestions(account=production, now=NOW)
    return role


@pytest.fixture
def release_item(batch_role, reviewer):
    cycle, _, _ = open_release_cycle(
        application="checkout",
        version="2.15.0",
        role_arns=[batch_role.arn],
        notes="",
        opened_by=reviewer,
    )
    return cycle.items.get()


def remediate(item, actor, *, attach_plan=True) -> Decision:
    return decide_item(
        item=item,
        actor=actor,
        decision=DecisionInput(kind="remediate", attach_plan=attach_plan),
        expected_latest_id=None,
    )


def collect_again(production, role, document) -> None:
    """A later collection that finds the role's inline policy changed."""
    PolicyAttachment.objects.filter(principal_arn=role.arn, gone_at=None).update(gone_at=NOW)
    attach(production, role, document, name="batch")


def test_a_release_item_shows_the_suggestion_and_links_to_least_privilege(
    client, release_item, batch_role, reviewer
):
    client.force_login(reviewer)
    body = client.get(f"/review/items/{release_item.pk}/", headers=HTMX).content.decode()
    assert "Least-privilege suggestion" in body
    assert "Removes 2 unused services" in body
    assert "<code>dynamodb</code>" in body and "<code>sqs</code>" in body
    assert f'href="/inventory/roles/{batch_role.pk}/#least-privilege"' in body
    assert 'name="attach_plan"' in body


def test_an_items_suggestion_names_twenty_unused_services_and_folds_the_rest(
    client, production, reviewer
):
    """An administrator's 442 unused services filled the item between evidence and decision."""
    from findings.policy.actions import services

    role = iam_role(production, "admin-role")
    attach(production, role, ADMIN_POLICY, name="admin")
    service_row(production, role, "s3", used_days=2)
    unused = sorted(name for name in services() if name != "s3")[:30]
    for namespace in unused:
        service_row(production, role, namespace, used_days=None)
    refresh_suggestions(account=production, now=NOW)
    cycle, _, _ = open_release_cycle(
        application="admin", version="1", role_arns=[role.arn], notes="", opened_by=reviewer
    )
    client.force_login(reviewer)

    body = client.get(f"/review/items/{cycle.items.get().pk}/", headers=HTMX).content.decode()

    suggestion = body[body.index("Least-privilege suggestion") :]
    suggestion = suggestion[: suggestion.index("</section>")]
    shown, folded = suggestion.split('<details class="more-services">')
    removed = role_suggestion(role)["removed_services"]
    assert len(removed) > 20
    assert all(f"<code>{name}</code>" in shown for name in removed[:20])
    assert not any(f"<code>{name}</code>" in shown for name in removed[20:])
    assert f"and {len(removed) - 20} more unused</summary>" in folded
    assert all(f"<code>{name}</code>" in folded for name in removed[20:])


def role_suggestion(role) -> dict:
    from findings.models import PolicySuggestion

    return PolicySuggestion.objects.get(principal_arn=role.arn).data


def test_a_suggestion_that_fails_its_own_checks_says_so_beside_the_plan_box(
    client, release_item, reviewer
):
    from findings.models import PolicySuggestion

    suggestion = PolicySuggestion.objects.get()
    problem = "7228 characters, over the managed policy limit of 6144"
    suggestion.data["validation"] = {"valid": False, "problems": [problem]}
    suggestion.save(update_fields=["data"])
    client.force_login(reviewer)
    body = client.get(f"/review/items/{release_item.pk}/", headers=HTMX).content.decode()
    assert "The suggestion fails its own checks" in body and problem in body


def test_a_monthly_external_access_item_does_not_show_the_suggestion(production, administrator):
    from tests.findings.reviews.test_evidence import external_access

    external_access(production, "shared-bucket")
    cycle = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])
    item = cycle.items.get()
    from findings.reviews.plans import item_suggestion, shows_suggestion

    assert not shows_suggestion(item=item)
    assert item_suggestion(item=item) is None


def test_remediate_attaches_the_suggestion_as_the_plan_and_audits_it(release_item, reviewer):
    decision = remediate(release_item, reviewer)

    plan = decision.remediation_plan
    assert plan["principal_arn"] == release_item.subject_arn
    assert plan["removed_services"] == ["dynamodb", "sqs"]
    [change] = plan["changes"]
    assert change["action"] == "rewrite" and change["after"]["Statement"][0]["Action"]
    entry = AuditEntry.objects.get(action="decision.recorded")
    assert entry.after["remediation_plan"]["principal_arn"] == release_item.subject_arn


def test_attaching_a_plan_without_a_suggestion_that_changes_anything_is_refused(
    production, reviewer
):
    role = iam_role(production, "tidy")
    attach(production, role, USED_PART, name="batch")
    service_row(production, role, "s3", used_days=2)
    refresh_suggestions(account=production, now=NOW)
    cycle, _, _ = open_release_cycle(
        application="tidy", version="1", role_arns=[role.arn], notes="", opened_by=reviewer
    )
    with pytest.raises(Invalid) as refused:
        remediate(cycle.items.get(), reviewer)
    assert "attach_plan" in refused.value.errors
    assert not Decision.objects.exists()


def test_the_plan_is_verified_once_fresh_policies_are_equal_or_narrower(
    production, batch_role, release_item, reviewer
):
    remediate(release_item, reviewer)

    # Nothing changed yet: broader than the plan, still open, with the reason.
    assert verify_remediations(account=production) == 0
    release_item.refresh_from_db()
    assert release_item.remediation == ReviewItem.Remediation.PENDING
    assert release_item.plan_check["verdict"] == "broader"
    assert release_item.plan_check["beyond_plan"] > 0

    # Half done (sqs still there): still broader.
    collect_again(
        production,
        batch_role,
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "sqs:*"], "Resource": "*"}
            ],
        },
    )
    assert verify_remediations(account=production) == 0

    collect_again(production, batch_role, USED_PART)
    assert verify_remediations(account=production) == 1
    release_item.refresh_from_db()
    assert release_item.remediation == ReviewItem.Remediation.VERIFIED
    assert release_item.plan_check["verdict"] == "equal"
    assert AuditEntry.objects.filter(action="remediation.verified").count() == 1


def test_a_narrower_policy_than_the_plan_verifies_it(
    production, batch_role, release_item, reviewer
):
    remediate(release_item, reviewer)
    PolicyAttachment.objects.filter(principal_arn=batch_role.arn).update(gone_at=NOW)

    assert verify_remediations(account=production) == 1
    release_item.refresh_from_db()
    assert release_item.plan_check["verdict"] == "narrower"


def check_while_the_reviewer_decides_again(item, actor, *, superseded, decision) -> list:
    """A collection's check of `item` that read it while `actor` was deciding it again (the
    new decision commits while the check waits for the item): what the check returned."""
    with transaction.atomic():
        decide_item(item=item, actor=actor, decision=decision, expected_latest_id=superseded.pk)
        thread, outcome = in_thread(lambda: verify_remediations(account=item.account))
        assert waiting_for_locks()
    thread.join(timeout=20)
    return outcome


def test_a_check_does_not_verify_a_plan_the_reviewer_dropped_meanwhile(
    committed_db, production, batch_role, release_item, reviewer
):
    """Policies narrower than the plan verify it; but the reviewer has just decided to have
    the role removed instead (no plan), and the role is still there: nothing is verified."""
    planned = remediate(release_item, reviewer)
    PolicyAttachment.objects.filter(principal_arn=batch_role.arn).update(gone_at=NOW)

    outcome = check_while_the_reviewer_decides_again(
        release_item, reviewer, superseded=planned, decision=DecisionInput(kind="remediate")
    )

    assert outcome == [0]
    release_item.refresh_from_db()
    assert release_item.remediation == ReviewItem.Remediation.PENDING
    assert (release_item.verified_at, release_item.plan_check) == (None, {})
    assert not AuditEntry.objects.filter(action="remediation.verified").exists()
    assert verify_remediations(account=production) == 0


def test_a_check_of_a_superseded_plan_leaves_no_verdict_on_the_item(
    committed_db, production, release_item, reviewer
):
    """Policies still broader than the plan, and the reviewer has just kept the access: the
    item shows no "still open" verdict of a plan nobody holds any more."""
    planned = remediate(release_item, reviewer)

    outcome = check_while_the_reviewer_decides_again(
        release_item, reviewer, superseded=planned, decision=keep()
    )

    assert outcome == [0]
    release_item.refresh_from_db()
    assert (release_item.remediation, release_item.plan_check) == ("", {})


def test_the_item_page_shows_the_plan_and_why_it_is_still_open(
    client, production, release_item, reviewer
):
    remediate(release_item, reviewer)
    verify_remediations(account=production)
    client.force_login(reviewer)
    body = client.get(f"/review/items/{release_item.pk}/", headers=HTMX).content.decode()
    assert "Remediation plan" in body
    assert "Still open" in body and "beyond the plan" in body


def test_remediate_from_the_item_page_can_attach_the_plan(client, release_item, reviewer):
    client.force_login(reviewer)
    response = client.post(
        f"/review/items/{release_item.pk}/decide/",
        {"decision": "remediate", "attach_plan": "on", "expected_latest_id": ""},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert Decision.objects.get().remediation_plan["principal_arn"] == release_item.subject_arn


def test_the_evidence_pack_carries_the_plan(release_item, reviewer):
    remediate(release_item, reviewer)
    pack = build_evidence_pack(cycle=release_item.cycle)

    cycle = json.loads(pack.files["cycle.json"])
    [decision] = cycle["items"][0]["decisions"]
    assert decision["remediation_plan"]["principal_arn"] == release_item.subject_arn
    assert decision["has_remediation_plan"] is True
    assert b"has_remediation_plan" in pack.files["decisions.csv"]
