"""The demo's simulated service last-accessed data agrees with the roles' own last use."""

import random

import pytest

from findings.demo.load import simulated_service_access
from tests.findings.detection.test_detect import NOW, attach, iam_role, make_account

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
