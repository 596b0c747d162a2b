"""Access Analyzer findings for the demo organization: moto does not implement IAM Access Analyzer.

``access_analyzer_findings_document`` writes what ``aws accessanalyzer get-finding-v2`` would
print for the organization ``findings.demo.organization.build_demo_organization`` built,
ready for the file-import path. Call it inside the same active ``moto.mock_aws()`` context.
It reads the live simulated accounts (through the collectors' own role), so every ARN and
access key id in it is real.

No Django here.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from findings.demo.organization import DemoAccount, DemoOrganization, as_utc, assume_role
from findings.demo.plan import APPLICATIONS, OUTSIDE_ACCOUNT_IDS

UNUSED_AFTER = timedelta(days=90)  # Access Analyzer's default unused-access age


def access_analyzer_findings_document(
    *, organization: DemoOrganization, seed: int = 7, now: datetime | None = None
) -> dict[str, list[dict]]:
    """Per account id, the GetFindingV2 outputs an organization analyzer would report.

    JSON-serializable, timestamps as ISO 8601 strings, the way the AWS CLI prints them.
    """
    now = as_utc(now)
    aws = boto3.session.Session(region_name=organization.regions[0])
    snapshots = [
        _read_account(aws, organization=organization, account=account)
        for account in organization.accounts
    ]
    org_account_ids = {account.account_id for account in organization.accounts}
    document = {}
    for index, snapshot in enumerate(snapshots):
        neighbour = snapshots[(index + 1) % len(snapshots)]
        document[snapshot.account_id] = _FindingsWriter(
            snapshot=snapshot,
            neighbour=neighbour,
            org_account_ids=org_account_ids,
            regions=organization.regions,
            rng=random.Random(f"{seed}:{snapshot.account_id}"),
            now=now,
        ).findings()
    return document


# --- Reading an account back --------------------------------------------------------------------


@dataclass(frozen=True)
class _AccessKey:
    user_name: str
    access_key_id: str
    active: bool
    created: datetime
    last_used: datetime | None


@dataclass(frozen=True)
class _AccountSnapshot:
    account_id: str
    alias: str
    roles: list[dict]  # GAAD RoleDetailList
    keys: list[_AccessKey]
    credential_rows: list[dict[str, str]]


def _read_account(
    aws: boto3.session.Session, *, organization: DemoOrganization, account: DemoAccount
) -> _AccountSnapshot:
    """What an unused-access analyzer would look at, read through the collectors' own role."""
    credentials = assume_role(
        aws,
        account.role_arn,
        session_name="iamreview-demo-findings",
        external_id=organization.external_id,
    )
    iam = aws.client("iam", **credentials)
    roles, users = [], []
    for page in iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Role"]
    ):
        roles += page["RoleDetailList"]
        users += page["UserDetailList"]
    keys = []
    for user in users:
        for metadata in iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]:
            last_used = iam.get_access_key_last_used(AccessKeyId=metadata["AccessKeyId"])
            keys.append(
                _AccessKey(
                    user_name=user["UserName"],
                    access_key_id=metadata["AccessKeyId"],
                    active=metadata["Status"] == "Active",
                    created=as_utc(metadata["CreateDate"]),
                    last_used=_optional_utc(last_used["AccessKeyLastUsed"].get("LastUsedDate")),
                )
            )
    iam.generate_credential_report()
    report = iam.get_credential_report()["Content"].decode()
    aliases = iam.list_account_aliases()["AccountAliases"]
    return _AccountSnapshot(
        account_id=account.account_id,
        alias=aliases[0] if aliases else account.account_id,
        roles=roles,
        keys=keys,
        credential_rows=list(csv.DictReader(io.StringIO(report))),
    )


# --- Writing findings ---------------------------------------------------------------------------

# Actions an Access Analyzer recommendation typically lists as unused, per service.
UNUSED_ACTIONS = {
    "s3": ["DeleteBucket", "PutBucketPolicy", "PutBucketAcl", "DeleteObjectVersion"],
    "iam": ["CreateAccessKey", "AttachRolePolicy", "PutRolePolicy", "DeleteRole"],
    "ec2": ["TerminateInstances", "ModifyInstanceAttribute", "CreateSnapshot"],
    "kms": ["ScheduleKeyDeletion", "CreateGrant", "Decrypt"],
    "rds": ["DeleteDBInstance", "ModifyDBInstance"],
    "organizations": [],
    "cloudtrail": [],
}


class _FindingsWriter:
    def __init__(
        self,
        *,
        snapshot: _AccountSnapshot,
        neighbour: _AccountSnapshot,
        org_account_ids: set[str],
        regions: tuple[str, ...],
        rng: random.Random,
        now: datetime,
    ):
        self.snapshot = snapshot
        self.neighbour = neighbour
        self.org_account_ids = org_account_ids
        self.regions = regions
        self.rng = rng
        self.now = now
        self.analyzed_at = now - timedelta(minutes=rng.randint(5, 240))
        self.analyzer_created = now - timedelta(days=180)
        self.items: list[dict] = []

    def findings(self) -> list[dict]:
        self._public_buckets()
        self._outside_trusts()
        self._shared_kms_key()
        self._internal_access()
        self._unused_roles()
        self._unused_access_keys()
        self._unused_passwords()
        self._unused_permissions()
        self._resolved()
        return self.items

    @property
    def account_id(self) -> str:
        return self.snapshot.account_id

    def _add(
        self,
        *,
        resource: str,
        resource_type: str,
        finding_type: str,
        details: list[dict],
        created: datetime,
        status: str | None = None,
    ) -> None:
        if status is None:
            status = "ARCHIVED" if self.rng.random() < 0.1 else "ACTIVE"
        created = min(max(created, self.analyzer_created), self.analyzed_at - timedelta(hours=1))
        updated = self.analyzed_at
        if status == "ARCHIVED":
            updated = created + (self.analyzed_at - created) * self.rng.uniform(0.1, 0.9)
        self.items.append(
            {
                "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "analyzedAt": _iso(self.analyzed_at),
                "createdAt": _iso(created),
                "updatedAt": _iso(updated),
                "resource": resource,
                "resourceType": resource_type,
                "resourceOwnerAccount": self.account_id,
                "status": status,
                "findingType": finding_type,
                "findingDetails": details,
            }
        )

    def _since(self, last_used: datetime | None, created: datetime) -> datetime:
        """When access became unused: the threshold after the last use, or after creation."""
        return (last_used or created) + UNUSED_AFTER

    # External and internal access

    def _public_buckets(self) -> None:
        for suffix, status in (("public-assets", "ACTIVE"), ("static-website", "ARCHIVED")):
            self._add(
                resource=f"arn:aws:s3:::{self.snapshot.alias}-{suffix}",
                resource_type="AWS::S3::Bucket",
                finding_type="ExternalAccess",
                details=[
                    {
                        "externalAccessDetails": {
                            "action": ["s3:GetObject"],
                            "condition": {},
                            "isPublic": True,
                            "principal": {"AWS": "*"},
                            "sources": [{"type": "POLICY"}],
                        }
                    }
                ],
                created=self.now - timedelta(days=self.rng.randint(20, 170)),
                status=status,
            )

    def _outside_trusts(self) -> None:
        for role in self.snapshot.roles:
            for statement in _statements(role["AssumeRolePolicyDocument"]):
                for principal in _as_list(statement.get("Principal", {}).get("AWS", [])):
                    account = _account_of(principal)
                    if account is None or account in self.org_account_ids:
                        continue
                    condition = {
                        key.lower(): str(value)
                        for values in statement.get("Condition", {}).values()
                        for key, value in values.items()
                    }
                    self._add(
                        resource=role["Arn"],
                        resource_type="AWS::IAM::Role",
                        finding_type="ExternalAccess",
                        details=[
                            {
                                "externalAccessDetails": {
                                    "action": ["sts:AssumeRole"],
                                    "condition": condition,
                                    "isPublic": False,
                                    "principal": {"AWS": principal},
                                    "sources": [{"type": "POLICY"}],
                                }
                            }
                        ],
                        created=as_utc(role["CreateDate"]),
                        status="ACTIVE",
                    )

    def _shared_kms_key(self) -> None:
        key_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        self._add(
            resource=f"arn:aws:kms:{self.regions[0]}:{self.account_id}:key/{key_id}",
            resource_type="AWS::KMS::Key",
            finding_type="ExternalAccess",
            details=[
                {
                    "externalAccessDetails": {
                        "action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
                        "condition": {},
                        "isPublic": False,
                        "principal": {"AWS": f"arn:aws:iam::{OUTSIDE_ACCOUNT_IDS[1]}:root"},
                        "sources": [{"type": "POLICY"}],
                    }
                }
            ],
            created=self.now - timedelta(days=self.rng.randint(10, 120)),
            status="ACTIVE",
        )

    def _internal_access(self) -> None:
        neighbour_roles = _application_roles(self.neighbour.roles)
        if neighbour_roles and self.neighbour.account_id != self.account_id:
            principal = self.rng.choice(neighbour_roles)
            self._add(
                resource=f"arn:aws:s3:::{self.snapshot.alias}-data-lake",
                resource_type="AWS::S3::Bucket",
                finding_type="InternalAccess",
                details=[
                    {
                        "internalAccessDetails": {
                            "action": ["s3:GetObject", "s3:ListBucket"],
                            "condition": {},
                            "principal": {"AWS": principal["Arn"]},
                            "principalOwnerAccount": self.neighbour.account_id,
                            "accessType": "INTRA_ORG",
                            "principalType": "IAM_ROLE",
                            "sources": [{"type": "POLICY"}],
                            "resourceControlPolicyRestriction": "NOT_APPLICABLE",
                            "serviceControlPolicyRestriction": "NOT_APPLICABLE",
                        }
                    }
                ],
                created=self.now - timedelta(days=self.rng.randint(5, 90)),
            )
        own_roles = _application_roles(self.snapshot.roles)
        if own_roles:
            role = self.rng.choice(own_roles)
            app = _tags(role)["app"]
            self._add(
                resource=f"arn:aws:dynamodb:{self.regions[0]}:{self.account_id}:table/{app}-events",
                resource_type="AWS::DynamoDB::Table",
                finding_type="InternalAccess",
                details=[
                    {
                        "internalAccessDetails": {
                            "action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
                            "condition": {},
                            "principal": {"AWS": role["Arn"]},
                            "principalOwnerAccount": self.account_id,
                            "accessType": "INTRA_ACCOUNT",
                            "principalType": "IAM_ROLE",
                            "sources": [{"type": "POLICY"}],
                        }
                    }
                ],
                created=self.now - timedelta(days=self.rng.randint(5, 90)),
            )

    # Unused access

    def _unused_roles(self) -> None:
        # Access Analyzer leaves service-linked roles out of unused-access findings.
        unused = [
            role
            for role in self.snapshot.roles
            if not role["Path"].startswith("/aws-service-role/")
            and self._is_unused(_role_last_used(role), as_utc(role["CreateDate"]))
        ]
        for role in self._some(unused, 10):
            last_used = _role_last_used(role)
            self._add(
                resource=role["Arn"],
                resource_type="AWS::IAM::Role",
                finding_type="UnusedIAMRole",
                details=[{"unusedIamRoleDetails": _last_accessed(last_used)}],
                created=self._since(last_used, as_utc(role["CreateDate"])),
            )

    def _unused_access_keys(self) -> None:
        unused = [
            key
            for key in self.snapshot.keys
            if key.active and self._is_unused(key.last_used, key.created)
        ]
        for key in self._some(unused, 8):
            self._add(
                resource=self._user_arn(key.user_name),
                resource_type="AWS::IAM::User",
                finding_type="UnusedIAMUserAccessKey",
                details=[
                    {
                        "unusedIamUserAccessKeyDetails": {
                            "accessKeyId": key.access_key_id,
                            **_last_accessed(key.last_used),
                        }
                    }
                ],
                created=self._since(key.last_used, key.created),
            )

    def _unused_passwords(self) -> None:
        unused = []
        for row in self.snapshot.credential_rows:
            if row["password_enabled"].lower() != "true":
                continue
            last_used = _report_date(row["password_last_used"])
            created = _report_date(row["user_creation_time"]) or self.now
            if self._is_unused(last_used, created):
                unused.append((row, last_used, created))
        for row, last_used, created in self._some(unused, 6):
            self._add(
                resource=row["arn"],
                resource_type="AWS::IAM::User",
                finding_type="UnusedIAMUserPassword",
                details=[{"unusedIamUserPasswordDetails": _last_accessed(last_used)}],
                created=self._since(last_used, created),
            )

    def _unused_permissions(self) -> None:
        used_recently = [
            role
            for role in self.snapshot.roles
            if role.get("RolePolicyList")
            and not role["Path"].startswith("/aws-")
            and not self._is_unused(_role_last_used(role), as_utc(role["CreateDate"]))
        ]
        for role in self._some(used_recently, 5):
            details = self._unused_permission_details(role)
            if details:
                self._add(
                    resource=role["Arn"],
                    resource_type="AWS::IAM::Role",
                    finding_type="UnusedPermission",
                    details=details,
                    created=self.now - timedelta(days=self.rng.randint(3, 60)),
                )

    def _unused_permission_details(self, role: dict) -> list[dict]:
        """Unused services and actions, drawn from what the role's inline policies grant."""
        granted: dict[str, list[str]] = {}
        for policy in role["RolePolicyList"]:
            for statement in _statements(policy["PolicyDocument"]):
                for action in _as_list(statement.get("Action", [])):
                    if action == "*":
                        for service in self.rng.sample(sorted(UNUSED_ACTIONS), 3):
                            granted.setdefault(service, []).extend(UNUSED_ACTIONS[service])
                        continue
                    service, _, name = action.partition(":")
                    if name == "*":
                        granted.setdefault(service, []).extend(UNUSED_ACTIONS.get(service, []))
                    elif self.rng.random() < 0.4:
                        granted.setdefault(service, []).append(name)
        details = []
        for service, actions in sorted(granted.items()):
            entry: dict[str, Any] = {"serviceNamespace": service}
            unused_actions = []
            for action in sorted(set(actions)):
                item: dict[str, Any] = {"action": action}
                if self.rng.random() < 0.3:
                    item["lastAccessed"] = _iso(
                        self.now - timedelta(days=self.rng.randint(95, 380))
                    )
                unused_actions.append(item)
            if unused_actions:
                entry["actions"] = unused_actions
                accessed = [
                    item["lastAccessed"] for item in unused_actions if "lastAccessed" in item
                ]
                if accessed:
                    entry["lastAccessed"] = max(accessed)
            details.append({"unusedPermissionDetails": entry})
        return details

    def _resolved(self) -> None:
        """Findings for what was since cleaned up; AWS keeps these for 90 days after update."""
        app, _team = self.rng.choice(APPLICATIONS)
        deleted_role = f"arn:aws:iam::{self.account_id}:role/decommissioned-{app}-ec2"
        self._add_resolved(
            resource=deleted_role,
            finding_type="UnusedIAMRole",
            details=[{"unusedIamRoleDetails": {}}],
            resource_type="AWS::IAM::Role",
        )
        if self.snapshot.keys:
            user_name = self.rng.choice(self.snapshot.keys).user_name
            rotated_key = "AKIA" + "".join(
                self.rng.choices(string.ascii_uppercase + "234567", k=16)
            )
            last_used = self.now - timedelta(days=self.rng.randint(200, 400))
            self._add_resolved(
                resource=self._user_arn(user_name),
                finding_type="UnusedIAMUserAccessKey",
                details=[
                    {
                        "unusedIamUserAccessKeyDetails": {
                            "accessKeyId": rotated_key,
                            "lastAccessed": _iso(last_used),
                        }
                    }
                ],
                resource_type="AWS::IAM::User",
            )

    def _add_resolved(
        self, *, resource: str, finding_type: str, details: list[dict], resource_type: str
    ) -> None:
        updated = self.now - timedelta(days=self.rng.randint(5, 80), hours=self.rng.randint(0, 23))
        created = updated - timedelta(days=self.rng.randint(10, 120))
        self.items.append(
            {
                "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "analyzedAt": _iso(updated),
                "createdAt": _iso(created),
                "updatedAt": _iso(updated),
                "resource": resource,
                "resourceType": resource_type,
                "resourceOwnerAccount": self.account_id,
                "status": "RESOLVED",
                "findingType": finding_type,
                "findingDetails": details,
            }
        )

    def _is_unused(self, last_used: datetime | None, created: datetime) -> bool:
        return self._since(last_used, created) <= self.now

    def _some(self, items: list, limit: int) -> list:
        return items if len(items) <= limit else self.rng.sample(items, limit)

    def _user_arn(self, user_name: str) -> str:
        for row in self.snapshot.credential_rows:
            if row["user"] == user_name:
                return row["arn"]
        return f"arn:aws:iam::{self.account_id}:user/{user_name}"


def _application_roles(roles: list[dict]) -> list[dict]:
    return [role for role in roles if {"app", "team"} <= _tags(role).keys()]


def _tags(role: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in role.get("Tags", [])}


def _role_last_used(role: dict) -> datetime | None:
    return _optional_utc((role.get("RoleLastUsed") or {}).get("LastUsedDate"))


def _last_accessed(value: datetime | None) -> dict[str, str]:
    return {"lastAccessed": _iso(value)} if value else {}


def _statements(document: dict | str) -> list[dict]:
    if isinstance(document, str):
        document = json.loads(document)
    return _as_list(document.get("Statement", []))


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _account_of(principal: str) -> str | None:
    match = re.fullmatch(r"(?:arn:aws[\w-]*:iam::)?(\d{12})(?::.*)?", principal)
    return match.group(1) if match else None


def _report_date(value: str) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:  # no_information, N/A, not_supported
        return None


# --- Time ---------------------------------------------------------------------------------------


def _optional_utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value else None


def _iso(value: datetime) -> str:
    """The way the AWS CLI prints a timestamp: 2026-10-31T22:10:04+00:00."""
    return value.astimezone(UTC).isoformat(timespec="seconds")
