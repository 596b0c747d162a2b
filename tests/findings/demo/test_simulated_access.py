"""The demo's simulated service last-accessed data agrees with the roles' own last use."""

import random

import pytest

from findings.demo.load import simulated_service_access
from tests.findings.detection.test_detect import (
    NOW,
    attach,
    credential_entry,
    days_ago,
    iam_group,
    iam_role,
    iam_user,
    make_account,
)

pytestmark = pytest.mark.django_db

WIDE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:*", "dynamodb:*", "sqs:*", "ec2:*"], "Resource": "*"}
    ],
}


def test_no_service_is_used_after_its_role_was_last_used():
    """A page saying "last used 2025-09-11" above "dynamodb used 2026-02-24" contradicts
    itself: RoleLastUsed is the latest of every service's use."""
    account = make_account()
    roles = {}
    for n, days in enumerate([None, 1, 30, 200, 445] * 8):
        role = iam_role(account, f"app-{n}", last_used_days=days)
        attach(account, role, WIDE)
        roles[role.arn] = role.last_used_at
    results = simulated_service_access(account, now=NOW, rng=random.Random(7))

    used = 0
    for result in results:
        last_used = roles[result.principal_arn]
        for service in result.services:
            if service.last_authenticated_at is None:
                continue
            used += 1
            assert last_used is not None, result.principal_arn
            assert service.last_authenticated_at <= last_used, result.principal_arn
    assert used > 20  # the simulation still shows use (and, older, non-use)


def test_users_get_data_from_their_groups_policies_never_after_their_last_activity():
    """Only roles had data: no user was ever right-sized in the demo."""
    account = make_account()
    developers = iam_group(account, "developers")
    attach(account, developers, WIDE)
    for name, days in [("active", 3), ("dormant", 200), ("idle", None)]:
        iam_user(account, name, groups=["developers"])
        used = {} if days is None else {"password_last_used": days_ago(days)}
        credential_entry(account, name, password_enabled=True, **used)

    results = {
        r.principal_arn.rpartition("/")[2]: r
        for r in simulated_service_access(account, now=NOW, rng=random.Random(3))
    }

    assert {s.service_namespace for s in results["active"].services} >= {"s3", "dynamodb"}
    for name, days in [("active", 3), ("dormant", 200)]:
        for service in results[name].services:
            if service.last_authenticated_at is not None:
                assert service.last_authenticated_at <= days_ago(days), name
    assert all(s.last_authenticated_at is None for s in results["idle"].services)
