"""AWS Organizations: which accounts exist. Works only from the management account or a
delegated administrator."""

from __future__ import annotations

from typing import Any

from findings.aws.convert import optional_timestamp
from findings.aws.errors import AWS_EXCEPTIONS, translate
from findings.aws.records import OrgAccount


def list_organization_accounts(org: Any) -> tuple[OrgAccount, ...]:
    """Every account in the organization, whatever its state."""
    accounts = []
    request: dict[str, Any] = {}
    try:
        while True:
            response = org.list_accounts(**request)
            accounts.extend(_account(item) for item in response.get("Accounts", []))
            # ListAccounts can return an empty page while more remain: only a missing
            # NextToken means the end.
            next_token = response.get("NextToken")
            if not next_token:
                return tuple(accounts)
            request = {"NextToken": next_token}
    except AWS_EXCEPTIONS as exc:
        raise translate(exc, operation="ListAccounts") from exc


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
