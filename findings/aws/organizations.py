"""AWS Organizations: which accounts exist, and the service control policies over them (only
from the management account or a delegated administrator); and, from any account, which
organization it is in."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from findings.aws.convert import optional_timestamp
from findings.aws.errors import AWS_EXCEPTIONS, ParseError, translate
from findings.aws.records import OrgAccount, OrganizationScps, ScpLevel, ScpPolicy

SCP = "SERVICE_CONTROL_POLICY"
# AWS's pattern for an organization id.
ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")


def own_organization(org: Any) -> str | None:
    """The id (o-...) of the organization the calling account is in, or None when it is in
    none. One call, DescribeOrganization, which any member account may make."""
    try:
        response = org.describe_organization()
    except AWS_EXCEPTIONS as exc:
        error = translate(exc, operation="DescribeOrganization")
        if error.code == "AWSOrganizationsNotInUseException":
            return None
        raise error from exc
    organization_id = (response.get("Organization") or {}).get("Id")
    if not isinstance(organization_id, str) or not ORGANIZATION_ID.fullmatch(organization_id):
        raise ParseError(
            f"DescribeOrganization answered no organization id ({organization_id!r:.60})",
            field="Organization.Id",
        )
    return organization_id


def list_organization_accounts(org: Any) -> tuple[OrgAccount, ...]:
    """Every account in the organization, whatever its state."""
    return tuple(
        _account(item) for item in _pages(org.list_accounts, "Accounts", operation="ListAccounts")
    )


def _pages(call: Callable[..., dict], key: str, *, operation: str, **request: Any) -> Iterator:
    """Every item of a paginated Organizations listing. A page may be empty while more remain
    (ListAccounts does that): only a missing NextToken means the end."""
    try:
        while True:
            response = call(**request)
            yield from response.get(key, [])
            next_token = response.get("NextToken")
            if not next_token:
                return
            request = {**request, "NextToken": next_token}
    except AWS_EXCEPTIONS as exc:
        raise translate(exc, operation=operation) from exc


def _account(item: dict[str, Any]) -> OrgAccount:
    return OrgAccount(
        account_id=item["Id"],
        name=item.get("Name", ""),
        email=item.get("Email", ""),
        # Status is being retired in favour of State; older responses carry only Status.
        state=item.get("State") or item.get("Status") or "UNKNOWN",
        joined_at=optional_timestamp(item.get("JoinedTimestamp"), field="JoinedTimestamp"),
        arn=item.get("Arn", ""),
    )


def read_service_control_policies(org: Any) -> OrganizationScps:
    """The organization's SCPs, where each is attached, and each account's chain of levels.

    Calls: ListRoots; ListPolicies, and DescribePolicy and ListTargetsForPolicy per SCP; then
    ListOrganizationalUnitsForParent and ListAccountsForParent per OU (and the root): a few
    calls per policy and per OU, none per account.
    """
    (root, *_) = list(_pages(org.list_roots, "Roots", operation="ListRoots")) or [None]
    if root is None:
        raise ParseError("ListRoots returned no root", field="Roots")
    enabled = any(
        kind.get("Type") == SCP and kind.get("Status") == "ENABLED"
        for kind in root.get("PolicyTypes") or []
    )
    if not enabled:
        return OrganizationScps(enabled=False, policies={}, chains={})
    policies: dict[str, ScpPolicy] = {}
    attached: dict[str, list[str]] = {}
    for summary in _pages(org.list_policies, "Policies", operation="ListPolicies", Filter=SCP):
        policy_id = summary["Id"]
        policies[policy_id] = ScpPolicy(
            policy_id=policy_id,
            name=summary.get("Name", policy_id),
            arn=summary.get("Arn", ""),
            aws_managed=bool(summary.get("AwsManaged")),
            document=_describe(org, policy_id),
        )
        for target in _pages(
            org.list_targets_for_policy,
            "Targets",
            operation="ListTargetsForPolicy",
            PolicyId=policy_id,
        ):
            attached.setdefault(target["TargetId"], []).append(policy_id)

    def level(target_id: str, kind: str, name: str) -> ScpLevel:
        return ScpLevel(
            target_id=target_id,
            kind=kind,
            name=name,
            policy_ids=tuple(sorted(attached.get(target_id, ()))),
        )

    chains: dict[str, tuple[ScpLevel, ...]] = {}
    parents = [(root["Id"], (level(root["Id"], "root", root.get("Name", "Root")),))]
    while parents:
        parent, chain = parents.pop()
        for item in _pages(
            org.list_accounts_for_parent,
            "Accounts",
            operation="ListAccountsForParent",
            ParentId=parent,
        ):
            chains[item["Id"]] = (*chain, level(item["Id"], "account", item.get("Name", "")))
        for unit in _pages(
            org.list_organizational_units_for_parent,
            "OrganizationalUnits",
            operation="ListOrganizationalUnitsForParent",
            ParentId=parent,
        ):
            parents.append((unit["Id"], (*chain, level(unit["Id"], "ou", unit.get("Name", "")))))
    return OrganizationScps(enabled=True, policies=policies, chains=chains)


def _describe(org: Any, policy_id: str) -> dict:
    try:
        content = org.describe_policy(PolicyId=policy_id)["Policy"]["Content"]
    except AWS_EXCEPTIONS as exc:
        raise translate(exc, operation="DescribePolicy") from exc
    try:
        document = json.loads(content)
    except (TypeError, ValueError) as exc:
        raise ParseError(f"the SCP's content is not JSON: {exc}", field=policy_id) from exc
    if not isinstance(document, dict):
        raise ParseError("the SCP's content is not a policy document", field=policy_id)
    return document
