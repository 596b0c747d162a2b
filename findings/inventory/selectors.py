"""Read functions: what is stored about users and roles, as plain rows for pages and exports."""

from datetime import datetime

from django.db.models import QuerySet

from findings.aws.credential_report import DATE_COLUMNS
from findings.models import CredentialReportEntry, IamRole, IamUser, PolicyAttachment

# Every credential-report date column (each has a *_reason twin when the date is absent).
CREDENTIAL_DATES = DATE_COLUMNS

REASON_WORDS = {
    "no_information": "never used (or not since AWS began tracking)",
    "N/A": "no such credential",
    "not_supported": "not supported for this user",
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _present_users(account_id: str | None = None) -> QuerySet[IamUser]:
    users = IamUser.objects.filter(gone_at=None).select_related("account")
    return users.filter(account__account_id=account_id) if account_id else users


def _present_roles(account_id: str | None = None) -> QuerySet[IamRole]:
    roles = IamRole.objects.filter(gone_at=None).select_related("account")
    return roles.filter(account__account_id=account_id) if account_id else roles


def user_rows(*, account_id: str | None = None) -> list[dict]:
    """Every user (the root row too), with IAM facts and the credential report's facts."""
    entries = CredentialReportEntry.objects.filter(gone_at=None).select_related("account")
    if account_id:
        entries = entries.filter(account__account_id=account_id)
    by_arn = {entry.arn: entry for entry in entries}
    rows = []
    seen = set()
    for user in _present_users(account_id).order_by("account__account_id", "name"):
        rows.append(
            _user_row(user.account.account_id, user.arn, user.name, user, by_arn.get(user.arn))
        )
        seen.add(user.arn)
    for arn, entry in by_arn.items():
        if arn not in seen:  # the root row, or a user the IAM listing has not caught up with
            rows.append(_user_row(entry.account.account_id, arn, entry.user, None, entry))
    rows.sort(key=lambda r: (r["account"], r["name"] != "<root_account>", r["name"]))
    return rows


def _user_row(account: str, arn: str, name: str, user, entry) -> dict:
    row = {
        "account": account,
        "name": name,
        "arn": arn,
        "path": user.path if user else None,
        "created": (user.create_date if user else entry.user_creation_time).isoformat(),
        "groups": user.groups if user else [],
        "tags": user.tags if user else {},
        "in_credential_report": entry is not None,
    }
    if entry is None:
        return row
    row.update(
        password_enabled=entry.password_enabled,
        mfa_active=entry.mfa_active,
        access_key_1_active=entry.access_key_1_active,
        access_key_1_last_used_service=entry.access_key_1_last_used_service or None,
        access_key_2_active=entry.access_key_2_active,
        access_key_2_last_used_service=entry.access_key_2_last_used_service or None,
    )
    for name in CREDENTIAL_DATES:
        row[name] = _iso(getattr(entry, name))
        row[f"{name}_reason"] = getattr(entry, f"{name}_reason") or None
    return row


def role_rows(*, account_id: str | None = None) -> list[dict]:
    roles = list(_present_roles(account_id).order_by("account__account_id", "name"))
    attached: dict[str, list[str]] = {}
    for principal_arn, name in PolicyAttachment.objects.filter(
        gone_at=None, principal_type="role", kind__in=["managed", "inline"]
    ).values_list("principal_arn", "policy_name"):
        attached.setdefault(principal_arn, []).append(name)
    return [
        {
            "account": role.account.account_id,
            "name": role.name,
            "arn": role.arn,
            "path": role.path,
            "created": role.create_date.isoformat(),
            "last_used": role.last_used_at.isoformat() if role.last_used_at else None,
            "last_used_region": role.last_used_region or None,
            "last_used_note": None
            if role.last_used_at
            else "not used within AWS's tracking window (about 400 days)",
            "service_linked": role.is_service_linked,
            "sso": role.is_sso,
            "tags": role.tags,
            "policies": sorted(attached.get(role.arn, [])),
        }
        for role in roles
    ]
