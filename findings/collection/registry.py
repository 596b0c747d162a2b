"""The AWS account registry: add, change, disable accounts; discover them in an Organization."""

import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from findings.audit.services import record
from findings.aws.errors import AwsError, ParseError
from findings.aws.organizations import list_organization_accounts, read_service_control_policies
from findings.aws.records import OrganizationScps
from findings.aws.session import (
    arn_partition,
    assume_role_session,
    botocore_version,
    client,
    hub_session,
    known_regions,
)
from findings.models import AwsAccount
from findings.models.accounts import ScpState
from findings.reviews.services import detect_after_commit

logger = logging.getLogger(__name__)

INACTIVE_ORG_STATES = {"SUSPENDED", "PENDING_CLOSURE", "CLOSED"}
# Our own org_state for an account ListAccounts no longer lists: it left the organization,
# moved to another one, or was closed more than 90 days ago (AWS then stops listing it).
NOT_LISTED = "NOT_LISTED"
NOT_LISTED_REASON = (
    "no longer listed by the organization's ListAccounts (it left the organization, moved to "
    "another one, or was closed over 90 days ago)"
)


def parse_regions(*, value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else value
    regions = []
    for item in items:
        region = item.strip()
        if not region:
            continue
        parts = region.split("-")
        if len(parts) < 3 or not parts[-1].isdigit():
            raise ValidationError(f"{region[:40]!r} is not an AWS region name such as us-east-1")
        if region not in known_regions():
            # Saved, it only failed the next collection, with AWS's own words.
            raise ValidationError(
                f"{region[:40]!r} is not an AWS region (botocore {botocore_version()} knows "
                f"{len(known_regions())}, such as us-east-1 and eu-west-1)"
            )
        if region not in regions:
            regions.append(region)
    return regions


def _member_role_arn(account_id: str, role_name: str, partition: str) -> str:
    return f"arn:{partition}:iam::{account_id}:role/{role_name.strip('/')}"


AUDITED_FIELDS = [
    "account_id",
    "name",
    "role_arn",
    "regions",
    "trail_arn",
    "trail_access_role_arn",
    "enabled",
    "origin",
    "org_state",
]


def _audit_view(account: AwsAccount) -> dict:
    """What the audit log keeps of an account (the ExternalId only as set or not)."""
    view = {name: getattr(account, name) for name in AUDITED_FIELDS}
    view["external_id_set"] = bool(account.external_id)
    return view


@transaction.atomic
def add_account(
    *,
    account_id: str,
    name: str,
    role_arn: str = "",
    external_id: str = "",
    regions: list[str] | None = None,
    trail_arn: str = "",
    trail_access_role_arn: str = "",
    origin: str = AwsAccount.Origin.MANUAL,
    actor: User | None = None,
) -> AwsAccount:
    account = AwsAccount(
        account_id=account_id.strip(),
        name=name.strip() or account_id.strip(),
        role_arn=role_arn.strip(),
        external_id=external_id.strip(),
        regions=regions or [],
        trail_arn=trail_arn.strip(),
        trail_access_role_arn=trail_access_role_arn.strip(),
        origin=origin,
    )
    account.full_clean()
    account.save()
    record(
        actor=actor,
        action="aws_account.added",
        target_type="aws_account",
        target_id=account.pk,
        target_label=str(account),
        after=_audit_view(account),
    )
    return account


@transaction.atomic
def update_account(
    *, account: AwsAccount, actor: User | None = None, **changes: object
) -> AwsAccount:
    before, external_id = _audit_view(account), account.external_id
    for name, value in changes.items():
        setattr(account, name, value)
    account.full_clean()
    account.save()
    after = _audit_view(account)
    changed = [key for key in after if after[key] != before[key]]
    # One ExternalId for another is a change of how iamreview connects to the account: it is
    # recorded, without either value.
    replaced = bool(external_id and account.external_id and external_id != account.external_id)
    if changed or replaced:
        record(
            actor=actor,
            action="aws_account.updated",
            target_type="aws_account",
            target_id=account.pk,
            target_label=str(account),
            before={key: before[key] for key in changed},
            after={
                **{key: after[key] for key in changed},
                **({"external_id_replaced": True} if replaced else {}),
            },
        )
    return account


@dataclass
class DiscoveryResult:
    added: list[AwsAccount]
    updated: list[AwsAccount]
    deactivated: list[AwsAccount]
    seen: int
    # Why the organization's SCPs could not be read ("" when they were): each account keeps
    # the SCPs last read.
    scp_error: str = ""
    scp_changed: list[AwsAccount] = field(default_factory=list)


def discover_organization_accounts(
    *,
    role_arn: str,
    member_role_name: str,
    external_id: str = "",
    regions: list[str] | None = None,
) -> DiscoveryResult:
    """List every account of the AWS Organization and register new ones.

    Suspended or closed accounts are marked (and not collected); names and states are refreshed.
    An account seen in the organization before that it no longer lists is marked NOT_LISTED;
    one that discovery added is also disabled (one added by hand may be collected on its own).
    Nothing is deleted: the account keeps its data, and is enabled again if it comes back.
    """
    session = (
        assume_role_session(
            role_arn=role_arn, external_id=external_id or None, session_name="iamreview-discover"
        )
        if role_arn
        else hub_session()
    )
    org = client(session, "organizations")
    org_accounts = list_organization_accounts(org)
    # Every account's ARN names its organization: arn:aws:organizations::MGMT:account/o-x/ID.
    organization = next((_organization_of(item.arn) for item in org_accounts), "")
    management = next((item.arn.split(":")[4] for item in org_accounts if item.arn), "")
    # The members' roles are in the organization's partition (aws-cn, aws-us-gov, ...).
    partition = arn_partition(role_arn) or next(
        (p for item in org_accounts if (p := arn_partition(item.arn))), "aws"
    )
    scps: OrganizationScps | None = None
    scp_error = ""
    try:
        scps = read_service_control_policies(org)
    except (AwsError, ParseError) as exc:
        # The accounts are listed: discovery goes on, and each keeps the SCPs last read.
        scp_error = f"The organization's SCPs could not be read: {exc}"
        logger.warning("%s", scp_error)
    known = {a.account_id: a for a in AwsAccount.objects.all()}
    result = DiscoveryResult(added=[], updated=[], deactivated=[], seen=len(org_accounts))
    with transaction.atomic():
        for item in org_accounts:
            account = known.get(item.account_id)
            active = item.state not in INACTIVE_ORG_STATES
            if account is None:
                account = add_account(
                    account_id=item.account_id,
                    name=item.name,
                    role_arn=_member_role_arn(item.account_id, member_role_name, partition),
                    external_id=external_id,
                    regions=regions,
                    origin=AwsAccount.Origin.ORGANIZATIONS,
                )
                account.org_state = item.state
                account.org_joined_at = item.joined_at
                account.organization_id = organization
                account.enabled = active
                account.save(
                    update_fields=["org_state", "org_joined_at", "enabled", "organization_id"]
                )
                result.added.append(account)
                continue
            if organization and account.organization_id != organization:
                account.organization_id = organization  # not news: which organization it is in
                account.save(update_fields=["organization_id"])
            changed = account.org_state != item.state or (item.name and account.name != item.name)
            if not changed:
                continue
            if not active and account.enabled:
                account.enabled = False
                result.deactivated.append(account)
            else:
                if active and _disabled_by_discovery(account) and not account.enabled:
                    account.enabled = True  # disabled by discovery, active again in AWS
                result.updated.append(account)
            before = _audit_view(AwsAccount.objects.get(pk=account.pk))
            account.org_state = item.state
            account.org_joined_at = account.org_joined_at or item.joined_at
            if item.name:
                account.name = item.name
            account.save(update_fields=["org_state", "org_joined_at", "enabled", "name"])
            _record_discovered_change(account, before=before, after=_audit_view(account))
        listed = {item.account_id for item in org_accounts}
        # An organization always lists its management account: an empty listing is not news.
        if listed and organization:
            # Only this organization's former accounts: another organization's (a second
            # discovery), or one whose organization is not known yet, are not its to mark.
            _mark_not_listed(
                accounts=[
                    a
                    for a in known.values()
                    if a.account_id not in listed and a.organization_id == organization
                ],
                result=result,
            )
        result.scp_error = scp_error
        result.scp_changed = _store_scps(
            # Locked until the end of this discovery: a second one at the same time (the
            # schedule and the command) waits, then reads what the first stored.
            accounts=list(
                AwsAccount.objects.select_for_update().filter(account_id__in=listed).order_by("pk")
            ),
            # Accounts of this organization it no longer lists: its SCPs no longer apply.
            gone=list(
                AwsAccount.objects.select_for_update()
                .exclude(account_id__in=listed)
                .filter(organization_id=organization)
                .order_by("pk")
            )
            if listed and organization
            else [],
            scps=scps,
            management=management,
            error=scp_error,
        )
        for account in result.scp_changed:
            # Escalation reads the SCPs: the account's findings follow them now, not at its
            # next collection.
            detect_after_commit(account=account)
    return result


def _store_scps(
    *,
    accounts: list[AwsAccount],
    gone: list[AwsAccount],
    scps: OrganizationScps | None,
    management: str,
    error: str,
) -> list[AwsAccount]:
    """Each listed account's SCP levels as read now; with a failed read, only the error (the
    levels last read stay in force). Returned: the accounts whose SCPs in force changed."""
    now = timezone.now()
    gone_ids = {account.pk for account in gone}
    changed, written = [], []
    for account in [*accounts, *gone]:
        left = account.pk in gone_ids
        if left:
            state, levels = ScpState.UNKNOWN, []
        elif scps is None:  # a failed read: the SCPs stored stay as they are, with why
            state, levels = account.scp_state, account.scp_levels
        elif account.account_id == management:
            state, levels = ScpState.EXEMPT, []
        elif not scps.enabled:
            state, levels = ScpState.NOT_ENABLED, []
        elif account.account_id in scps.chains:
            state, levels = ScpState.APPLIED, _levels(scps, account.account_id)
        else:  # listed, yet under no parent: not known where it sits
            state, levels = ScpState.UNKNOWN, []
        error_now = "" if left else error
        before = (account.scp_state, account.scp_levels, account.scp_levels_in_effect)
        if (state, levels, error_now) == (*before[:2], account.scp_error):
            continue  # no write: an unchanged organization changes no row
        read_before = account.scp_read_at is not None
        if (state, levels) != before[:2]:
            account.scp_read_at = now  # when what is stored was read
        account.scp_state, account.scp_levels, account.scp_error = state, levels, error_now
        written.append(account)
        if account.scp_levels_in_effect == before[2]:
            continue
        changed.append(account)  # as now stored: detection reads the levels from it
        if read_before:
            # A change of what applies (the first read is no change: nothing was known).
            record(
                actor=None,
                action="aws_account.scps_changed",
                target_type="aws_account",
                target_id=account.pk,
                target_label=str(account),
                before=_scp_view(*before[:2]),
                after=_scp_view(state, levels),
            )
    # One statement for every changed row (the rows are locked by the caller).
    AwsAccount.objects.bulk_update(
        written, ["scp_state", "scp_levels", "scp_error", "scp_read_at"], batch_size=500
    )
    return changed


def _levels(scps: OrganizationScps, account_id: str) -> list[dict]:
    return [
        {
            "id": level.target_id,
            "kind": level.kind,
            "name": level.name,
            "policies": [
                {
                    "id": policy.policy_id,
                    "name": policy.name,
                    "arn": policy.arn,
                    "aws_managed": policy.aws_managed,
                    "document": policy.document,
                }
                for policy in sorted(
                    (scps.policies[p] for p in level.policy_ids if p in scps.policies),
                    key=lambda policy: (policy.name.lower(), policy.policy_id),
                )
            ],
        }
        for level in scps.chains[account_id]
    ]


def _scp_view(state: str, levels: list[dict]) -> dict:
    """What the audit log keeps of an account's SCPs: the state and the policies by level."""
    return {
        "scp_state": state,
        "scps": [
            f"{level.get('kind')} {level.get('id')}: "
            + ", ".join(str(p.get("name")) for p in level.get("policies", []))
            for level in levels
        ],
    }


def _record_discovered_change(account: AwsAccount, *, before: dict, after: dict) -> None:
    """What discovery changed on an account, in the audit trail (made by the system)."""
    record(
        actor=None,
        action="aws_account.discovered_change",
        target_type="aws_account",
        target_id=account.pk,
        target_label=str(account),
        before=before,
        after=after,
    )


def _organization_of(arn: str) -> str:
    """``o-...`` from an account's ARN in AWS Organizations; "" when it names none."""
    resource = arn.split(":", 5)[-1]  # account/o-exampleorgid/111122223333
    parts = resource.split("/")
    return parts[1] if len(parts) == 3 and parts[1].startswith("o-") else ""


def _disabled_by_discovery(account: AwsAccount) -> bool:
    return account.org_state in INACTIVE_ORG_STATES or (
        account.org_state == NOT_LISTED and account.origin == AwsAccount.Origin.ORGANIZATIONS
    )


def _mark_not_listed(*, accounts: list[AwsAccount], result: DiscoveryResult) -> None:
    """Accounts seen in the organization before (an org_state) that it no longer lists."""
    for account in accounts:
        if not account.org_state or account.org_state == NOT_LISTED:
            continue  # never in the organization, or already marked
        before = _audit_view(account)
        account.org_state = NOT_LISTED
        if account.origin == AwsAccount.Origin.ORGANIZATIONS and account.enabled:
            account.enabled = False
            result.deactivated.append(account)
        else:
            result.updated.append(account)
        account.save(update_fields=["org_state", "enabled"])
        _record_discovered_change(
            account, before=before, after={**_audit_view(account), "reason": NOT_LISTED_REASON}
        )
        logger.warning(
            "AWS account %s is %s%s",
            account,
            NOT_LISTED_REASON,
            ": disabled, no longer collected" if not account.enabled else "",
        )
