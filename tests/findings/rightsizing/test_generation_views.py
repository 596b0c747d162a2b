"""The role page's "Generate from CloudTrail": who may start it, progress, the result."""

import time

import pytest

from findings.models import GeneratedPolicy
from tests.findings.collection.test_collectors import stubbed_boto3_clients  # noqa: F401
from tests.findings.collection.test_policy_generation import (
    GENERATED,
    READER,
    TRAIL,
    stub_generation,
)
from tests.findings.detection.test_detect import attach, iam_role, make_account, service_row

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
BATCH = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "sqs:*"], "Resource": "*"}],
}


@pytest.fixture
def batch_role():
    account = make_account()
    account.trail_arn, account.trail_access_role_arn = TRAIL, READER
    account.save()
    role = iam_role(account, "legacy-checkout-batch-job")
    attach(account, role, BATCH, name="batch")
    service_row(account, role, "s3", used_days=2)
    service_row(account, role, "sqs", used_days=2)
    return role


def test_a_reviewer_generates_and_sees_it_beside_the_suggestion(
    client,
    batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
):
    stub_generation(
        stubbed_boto3_clients("accessanalyzer", "us-east-1"), batch_role, polls_in_progress=0
    )
    client.force_login(reviewer)
    page = client.get(f"/inventory/roles/{batch_role.pk}/").content.decode()
    assert "Generate from CloudTrail" in page

    # Without a broker the task runs at once: the answer already holds the result.
    response = client.post(
        f"/inventory/roles/{batch_role.pk}/generate-policy/", {"days": "30"}, headers=HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="generation"')
    assert GeneratedPolicy.objects.get().policies == [GENERATED]
    assert "Only our suggestion grants" in body and "<code>sqs</code>" in body

    page = client.get(f"/inventory/roles/{batch_role.pk}/").content.decode()
    assert "Generated from CloudTrail" in page and "Only the CloudTrail policy grants 0" in page


def test_without_a_broker_a_generation_aws_is_still_working_on_is_no_500(
    client,
    batch_role,
    reviewer,
    stubbed_boto3_clients,  # noqa: F811
    monkeypatch,
):
    """In-process (no broker), the task's "come back later" reached the view as Retry: a 500."""
    stub_generation(
        stubbed_boto3_clients("accessanalyzer", "us-east-1"), batch_role, polls_in_progress=80
    )
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # one attempt's waiting, at once
    client.force_login(reviewer)

    response = client.post(
        f"/inventory/roles/{batch_role.pk}/generate-policy/", {"days": "30"}, headers=HTMX
    )

    assert response.status_code == 200
    assert GeneratedPolicy.objects.get().status == GeneratedPolicy.Status.IN_PROGRESS
    assert 'hx-trigger="every 3s"' in response.content.decode()


def test_with_the_broker_down_a_generation_is_kept_for_the_sweep_and_no_500(
    client, batch_role, reviewer, broker_down
):
    client.force_login(reviewer)

    response = client.post(
        f"/inventory/roles/{batch_role.pk}/generate-policy/", {"days": "30"}, headers=HTMX
    )

    assert response.status_code == 200
    assert GeneratedPolicy.objects.get().status == GeneratedPolicy.Status.QUEUED


def test_a_running_generation_polls_for_progress(client, batch_role, reviewer):
    GeneratedPolicy.objects.create(
        account=batch_role.account,
        principal_arn=batch_role.arn,
        requested_at=batch_role.create_date,
        period_start=batch_role.create_date,
        period_end=batch_role.create_date,
        trail_arn=TRAIL,
        job_id="job-1",
        status=GeneratedPolicy.Status.IN_PROGRESS,
        waited_seconds=12,
    )
    client.force_login(reviewer)
    body = client.get(
        f"/inventory/roles/{batch_role.pk}/generated-policy/", headers=HTMX
    ).content.decode()
    assert 'hx-trigger="every 3s"' in body and "12 s so far" in body
    assert 'name="days"' not in body


@pytest.mark.parametrize("days", ["0", "91", "abc", "", "99999"])
def test_odd_periods_are_refused_with_a_4xx(client, batch_role, reviewer, days):
    client.force_login(reviewer)
    response = client.post(
        f"/inventory/roles/{batch_role.pk}/generate-policy/", {"days": days}, headers=HTMX
    )
    assert response.status_code == 400
    assert not GeneratedPolicy.objects.exists()


def test_auditors_may_not_generate_and_see_no_button(client, batch_role, auditor):
    client.force_login(auditor)
    response = client.post(f"/inventory/roles/{batch_role.pk}/generate-policy/", {"days": "30"})
    assert response.status_code == 403
    page = client.get(f"/inventory/roles/{batch_role.pk}/").content.decode()
    assert 'name="days"' not in page


def test_generation_needs_csrf(batch_role, reviewer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    response = client.post(f"/inventory/roles/{batch_role.pk}/generate-policy/", {"days": "30"})
    assert response.status_code == 403


def test_an_administrator_sets_the_trail_on_the_account(client, batch_role, administrator):
    client.force_login(administrator)
    account = batch_role.account
    form = {"name": account.name, "role_arn": "", "external_id": "", "regions": "us-east-1"}
    response = client.post(f"/collection/accounts/{account.pk}/edit/", {**form, "trail_arn": TRAIL})
    assert response.status_code == 200
    assert "needs both the trail and the role" in response.content.decode()
    client.post(
        f"/collection/accounts/{account.pk}/edit/",
        {**form, "trail_arn": TRAIL, "trail_access_role_arn": READER},
    )
    account.refresh_from_db()
    assert (account.trail_arn, account.trail_access_role_arn) == (TRAIL, READER)
