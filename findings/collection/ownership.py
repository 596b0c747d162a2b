"""Whose data it is: every IAM ARN names its account, so data of another account is caught
before it is stored as this one's (and this one's own marked gone)."""

from collections.abc import Iterable, Iterator

from findings.aws.records import AnalyzerFinding, AuthorizationDetails
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


def other_findings_owner(*, account: AwsAccount, findings: Iterable[AnalyzerFinding]) -> str | None:
    """The one other account that owns every resource of an Access Analyzer findings file, or
    None. A file has no analyzer ARN to check; its findings name their resources' owner. An
    organization analyzer's file names several owners, this account among them or not: that
    one is not refused."""
    owners = {f.resource_owner_account for f in findings if f.resource_owner_account}
    if len(owners) == 1 and account.account_id not in owners:
        return owners.pop()
    return None
