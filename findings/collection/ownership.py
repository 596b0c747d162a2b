"""Whose data it is: every IAM ARN names its account, so data of another account is caught
before it is stored as this one's (and this one's own marked gone)."""

from collections.abc import Iterable, Iterator

from findings.aws.records import AuthorizationDetails
from findings.models import AwsAccount


def foreign_arn(*, account: AwsAccount, arns: Iterable[str]) -> tuple[str, str] | None:
    """(the other account, the ARN naming it) of the first ARN of another account, or None.
    AWS-managed policies name "aws"; an ARN without an account field is nobody's."""
    for arn in arns:
        parts = arn.split(":")
        owner = parts[4] if len(parts) > 5 else ""
        if owner not in ("", "aws", account.account_id):
            return owner, arn
    return None


def detail_arns(*, details: AuthorizationDetails) -> Iterator[str]:
    """Every user, group, role and policy ARN of an authorization-details answer."""
    for items in (details.users, details.groups, details.roles, details.policies):
        for item in items:
            yield item.arn
