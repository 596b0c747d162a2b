# ruff: noqa: F811 - the fixtures come from test_api.py
"""The approver reads the sign-off summary through the API and signs against its digest."""

import pytest

from tests.findings.api.test_api import account, api_as, cycle, decide_all, items_of  # noqa: F401

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
