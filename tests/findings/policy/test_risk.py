"""The risk summary counts from effective permissions: a boundary shrinks every category."""

from findings.policy.effective import Policy, effective_permissions
from findings.policy.risk import risk_summary

ADMIN = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
S3_READ = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def summary(boundary=None):
    perms = effective_permissions(
        principal_arn="arn:aws:iam::111122223333:role/app",
        principal_name="app",
        policies=[Policy("admin", "managed", ADMIN)],
        boundary=Policy("read", "boundary", boundary) if boundary else None,
    )
    return risk_summary(perms=perms, account_id="111122223333")


def test_an_administrator_is_at_risk_in_every_category_but_escalation():
    """It has everything: no way to gain more (it showed "30 ways to escalate")."""
    risks = summary()
    assert risks.pop("Privilege escalation") == 0
    assert all(risks.values())


def test_a_boundary_leaves_only_what_it_allows():
    assert summary(boundary=S3_READ) == {
        "Privilege escalation": 0,
        "Data exfiltration": 1,
        "Resource exposure": 0,
        "Infrastructure change": 0,
        "Credential exposure": 0,
    }
