"""Policy statements and effective permissions for the escalation tests, built in one line."""

from findings.detection.checks import Principal
from findings.policy.effective import EffectivePermissions, Policy, effective_permissions
from tests.findings.detection.test_detect import days_ago


def allow(action, resource="*", condition=None) -> dict:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    return {**statement, "Condition": condition} if condition else statement


def deny(action, resource="*") -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


def allow_all_but(action, not_resource) -> dict:
    return {"Effect": "Allow", "Action": action, "NotResource": not_resource}


def perms(arn, *statements, boundary=None) -> EffectivePermissions:
    """What `arn` may do with one inline policy of `statements` (and a boundary of its own)."""
    return effective_permissions(
        principal_arn=arn,
        principal_name=arn.rpartition("/")[2],
        policies=[Policy("p", "inline", {"Statement": list(statements)})],
        boundary=Policy("b", "boundary", {"Statement": list(boundary)}) if boundary else None,
    )


def principal(arn: str, documents: list, **fields) -> Principal:
    """A user or role of the detection checks (kind and name from its ARN), 400 days old and
    untagged, holding `documents` ((name, kind, document) each)."""
    kind = arn.split(":", 5)[5].split("/", 1)[0]
    return Principal(
        arn=arn,
        name=arn.rpartition("/")[2],
        kind=kind,
        create_date=days_ago(400),
        tags={},
        documents=documents,
        **fields,
    )
