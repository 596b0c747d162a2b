# ruff: noqa: F811 - the fixtures come from test_api.py
"""The approver reads the sign-off summary through the API and signs against its digest."""

import pytest

from accounts.permissions import Role
from findings.models import ReviewCycle
from findings.reviews.freshness import refresh_freshness
from tests.conftest import make_person
from tests.findings.api.test_api import (  # noqa: F401
    account,
    api_as,
    cycle,
    decide_all,
    items_of,
    sign_off,
)
from tests.findings.detection.test_detect import iam_role
from tests.findings.reviews.test_views import edit_policy, role_with_policy, s3_policy

pytestmark = pytest.mark.django_db


def test_the_summary_counts_the_decisions_and_carries_a_digest(api_as, reviewer, approver, cycle):
    decide_all(api_as(reviewer), cycle)
    response = api_as(approver).get(f"/api/cycles/{cycle.pk}/sign-off-summary")
    assert response.status_code == 200
    summary = response.json()
    assert summary["total"] == 2
    assert {kind: count for kind, _, count in summary["counts"]}["keep"] == 2
    assert len(summary["digest"]) == 64


def test_signing_against_the_summary_read_succeeds(api_as, reviewer, approver, cycle):
    decide_all(api_as(reviewer), cycle)
    digest = api_as(approver).get(f"/api/cycles/{cycle.pk}/sign-off-summary").json()["digest"]
    response = api_as(approver).post(
        f"/api/cycles/{cycle.pk}/sign-off", {"attestation": "Read it all.", "summary_hash": digest}
    )
    assert response.status_code == 200
    assert response.json()["state"] == "signed_off"


def test_a_decision_changed_after_reading_refuses_the_sign_off_with_409(
    api_as, reviewer, second_reviewer, approver, cycle
):
    decide_all(api_as(reviewer), cycle)
    digest = api_as(approver).get(f"/api/cycles/{cycle.pk}/sign-off-summary").json()["digest"]
    item = items_of(cycle)[0]
    changed = api_as(second_reviewer).decide(
        item,
        decision="false_positive",
        justification="not ours: a partner's role",
        previous_decision_id=item.latest_decision_id,
    )
    assert changed.status_code == 201, changed.json()

    response = api_as(approver).post(
        f"/api/cycles/{cycle.pk}/sign-off", {"attestation": "Read it all.", "summary_hash": digest}
    )
    assert response.status_code == 409
    cycle.refresh_from_db()
    assert cycle.state != "signed_off"
    # The answer holds the summary as it is now: read, then signed against its digest.
    current = response.json()["summary"]
    assert current["digest"] != digest
    assert {kind: count for kind, _, count in current["counts"]}["false_positive"] == 1
    signed = api_as(approver).post(
        f"/api/cycles/{cycle.pk}/sign-off",
        {"attestation": "Read it all.", "summary_hash": current["digest"]},
    )
    assert signed.status_code == 200
    cycle.refresh_from_db()
    assert cycle.signed_summary_hash == current["digest"]


def test_people_without_a_role_read_no_summary(api_as, outsider, cycle):
    assert api_as(outsider).get(f"/api/cycles/{cycle.pk}/sign-off-summary").status_code == 403


def test_a_signed_off_cycles_summary_is_the_one_signed(api_as, reviewer, approver, cycle):
    """It was recomputed: a decider renamed since gave a digest that was not the one signed."""
    decide_all(api_as(reviewer), cycle)
    digest = api_as(approver).get(f"/api/cycles/{cycle.pk}/sign-off-summary").json()["digest"]
    api_as(approver).post(
        f"/api/cycles/{cycle.pk}/sign-off", {"attestation": "Read it all.", "summary_hash": digest}
    )
    reviewer.full_name = "Someone Else Entirely"
    reviewer.save()

    after = api_as(approver).get(f"/api/cycles/{cycle.pk}/sign-off-summary").json()

    assert after["digest"] == digest
    assert "Someone Else Entirely" not in str(after)


def test_a_role_changed_after_it_was_decided_is_named_to_the_approver_and_the_pipeline(
    api_as, reviewer, approver, account
):
    """Kept on the frozen s3:GetObject, then s3:* attached: the summary the approver signs and
    the cycle the pipeline reads said nothing, and the release shipped with s3:*."""
    worker = role_with_policy(account, "worker", s3_policy("s3:GetObject"))
    registered = api_as(reviewer).post(
        "/api/releases", {"application": "shop", "version": "2.4.0", "role_arns": [worker.arn]}
    )
    cycle = ReviewCycle.objects.get(pk=registered.json()["cycle"]["id"])
    cycle_id = cycle.pk
    [item] = api_as(reviewer).get(f"/api/cycles/{cycle_id}").json()["items"]
    assert (item["freshness"], item["fresh_changes"]) == (None, [])
    decide_all(api_as(reviewer), cycle)
    read = api_as(approver).get(f"/api/cycles/{cycle_id}/sign-off-summary").json()
    assert read["changed_since_frozen"] == []

    edit_policy(account, worker.arn, s3_policy("s3:*"))
    refresh_freshness(account=account)  # as the account's next detection does

    [item] = api_as(reviewer).get(f"/api/cycles/{cycle_id}").json()["items"]
    assert (item["freshness"], item["fresh_changes"]) == ("changed", ["policies"])
    summary = api_as(approver).get(f"/api/cycles/{cycle_id}/sign-off-summary").json()
    [line] = summary["changed_since_frozen"]
    assert line == {
        "item_id": item["id"],
        "title": item["title"],
        "decided_by": reviewer.display_name,
        "decision": "keep",
        "freshness": "changed",
        "changes": ["policies"],
    }
    stale = api_as(approver).post(
        f"/api/cycles/{cycle_id}/sign-off",
        {"attestation": "Read it all.", "summary_hash": read["digest"]},
    )
    assert stale.status_code == 409
    assert stale.json()["summary"]["changed_since_frozen"] == [line]


def test_a_pipeline_token_cannot_sign_off_the_release_it_registered(
    api_as, reviewer, approver, account
):
    """A token reaches its owner's every role: a service person holding Reviewer (to
    register) and Approver gave its pipeline a token that signed its own release off."""
    pipeline = api_as(make_person("ci-bot@example.com", Role.REVIEWER, Role.APPROVER))
    arn = iam_role(account, "checkout-api").arn
    registered = pipeline.post(
        "/api/releases", {"application": "checkout", "version": "7", "role_arns": [arn]}
    )
    assert registered.status_code == 201
    cycle = ReviewCycle.objects.get(pk=registered.json()["cycle"]["id"])
    decide_all(api_as(reviewer), cycle)

    refused = sign_off(pipeline, cycle)

    assert refused.status_code == 403
    assert refused.json() == {
        "error": "Segregation of duties: you registered this release, so another approver "
        "must sign it off"
    }
    cycle.refresh_from_db()
    assert cycle.state == "open"
    assert sign_off(api_as(approver), cycle).status_code == 200
