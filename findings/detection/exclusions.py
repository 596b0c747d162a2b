"""Exclusions: keep matching findings visible but out of the queues, with a reason, until a date.

Creating or ending one is audited in the same transaction, then detection runs again for the
accounts it can touch, so findings move to or from "excluded" at once rather than at the next
collection.
"""

import re
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from findings.audit import services as audit
from findings.detection.detect import detect_account
from findings.detection.selectors import check_choices
from findings.models import AwsAccount, Exclusion, Finding

# At most a year out; the same limit as an accepted risk (findings.reviews.services).
MAX_DAYS = 365
# arn:partition:service:region:account:resource, each part a glob (region and account may be
# empty, as in S3 and IAM ARNs); no whitespace anywhere.
ARN_GLOB = re.compile(r"^arn:[a-z*?-]+:[a-z0-9*?-]+:[a-z0-9*?-]*:(\d{12}|[\d*?]*):\S+$")
KIND_FIELDS = {
    Exclusion.Kind.ARN_PATTERN: {"arn_pattern"},
    Exclusion.Kind.ACCOUNT: {"account"},
    Exclusion.Kind.TAG: {"tag_key", "tag_value"},
    Exclusion.Kind.FINDING: {"finding"},
}
TARGET_FIELDS = {"arn_pattern", "account", "tag_key", "tag_value", "finding"}


def _snapshot(exclusion: Exclusion) -> dict:
    """What the audit log keeps of an exclusion."""
    return {
        "kind": exclusion.kind,
        "target": exclusion.describe(),
        "check_id": exclusion.check_id or None,
        "reason": exclusion.reason,
        "owner": exclusion.owner.email,
        "expires_on": exclusion.expires_on.isoformat(),
        "ended_at": exclusion.ended_at.isoformat() if exclusion.ended_at else None,
        "ended_by": exclusion.ended_by.email if exclusion.ended_by_id else None,
    }


def validation_errors(
    *,
    kind: str,
    reason: str,
    owner: User | None,
    expires_on: date | None,
    today: date,
    values: dict,
    check_id: str,
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if kind not in Exclusion.Kind.values:
        errors["kind"] = "Choose what to exclude."
        return errors
    if not reason.strip():
        errors["reason"] = "Say why these findings may be set aside; auditors will read it."
    if owner is None:
        errors["owner"] = "Choose who answers for this exclusion."
    if expires_on is None:
        errors["expires_on"] = "Every exclusion expires: choose a date."
    elif expires_on <= today:
        errors["expires_on"] = "The expiry date must be in the future."
    elif expires_on > today + timedelta(days=MAX_DAYS):
        errors["expires_on"] = "An exclusion lasts at most a year; choose an earlier date."
    if check_id and check_id not in dict(check_choices()):
        errors["check_id"] = "Unknown check."
    needed = KIND_FIELDS[kind]
    for name in sorted(TARGET_FIELDS - needed):
        if values[name]:
            errors[name] = f"Not used for this kind of exclusion ({Exclusion.Kind(kind).label})."
    if kind == Exclusion.Kind.ARN_PATTERN:
        pattern = values["arn_pattern"]
        if not pattern:
            errors["arn_pattern"] = "Enter an ARN pattern."
        elif not ARN_GLOB.match(pattern):
            errors["arn_pattern"] = (
                "This does not look like an ARN pattern; write it like "
                "arn:aws:iam::123456789012:role/legacy-*"
            )
    elif kind == Exclusion.Kind.ACCOUNT and values["account"] is None:
        errors["account"] = "Choose the account."
    elif kind == Exclusion.Kind.TAG and not values["tag_key"]:
        errors["tag_key"] = "Enter the tag key."
    elif kind == Exclusion.Kind.FINDING:
        if values["finding"] is None:
            errors["finding"] = "Choose the finding."
        elif check_id:
            errors["check_id"] = "A single finding already names its check; leave this empty."
    return errors


def create_exclusion(
    *,
    kind: str,
    reason: str,
    owner: User | None,
    expires_on: date | None,
    created_by: User,
    arn_pattern: str = "",
    account: AwsAccount | None = None,
    tag_key: str = "",
    tag_value: str = "",
    check_id: str = "",
    finding: Finding | None = None,
) -> Exclusion:
    """Validate, store and audit an exclusion, then re-detect the accounts it can touch.

    Raises ValidationError with a message per field name.
    """
    values = {
        "arn_pattern": arn_pattern.strip(),
        "account": account,
        "tag_key": tag_key.strip(),
        "tag_value": tag_value.strip(),
        "finding": finding,
    }
    check_id = check_id.strip()
    errors = validation_errors(
        kind=kind,
        reason=reason,
        owner=owner,
        expires_on=expires_on,
        today=timezone.localdate(),
        values=values,
        check_id=check_id,
    )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        exclusion = Exclusion.objects.create(
            kind=kind,
            reason=reason.strip(),
            owner=owner,
            expires_on=expires_on,
            created_by=created_by,
            check_id=check_id,
            **values,
        )
        audit.record(
            actor=created_by,
            action="exclusion.created",
            target_type="exclusion",
            target_id=exclusion.pk,
            target_label=str(exclusion),
            before=None,
            after=_snapshot(exclusion),
        )
    _redetect(exclusion)
    return exclusion


def end_exclusion(*, exclusion: Exclusion, ended_by: User) -> Exclusion:
    """End an exclusion before its expiry; its findings come back at once."""
    with transaction.atomic():
        exclusion = Exclusion.objects.select_for_update().get(pk=exclusion.pk)
        if exclusion.ended_at is not None:
            raise ValidationError("This exclusion has already ended.")
        before = _snapshot(exclusion)
        exclusion.ended_at = timezone.now()
        exclusion.ended_by = ended_by
        exclusion.save(update_fields=["ended_at", "ended_by"])
        audit.record(
            actor=ended_by,
            action="exclusion.ended",
            target_type="exclusion",
            target_id=exclusion.pk,
            target_label=str(exclusion),
            before=before,
            after=_snapshot(exclusion),
        )
    _redetect(exclusion)
    return exclusion


def _affected_accounts(exclusion: Exclusion) -> list[AwsAccount]:
    if exclusion.kind == Exclusion.Kind.ACCOUNT:
        return [exclusion.account]
    if exclusion.kind == Exclusion.Kind.FINDING:
        return [exclusion.finding.account]
    accounts = AwsAccount.objects.all()
    if exclusion.kind == Exclusion.Kind.ARN_PATTERN:
        account_part = exclusion.arn_pattern.split(":")[4]
        if account_part.isdigit():
            accounts = accounts.filter(account_id=account_part)
    return list(accounts)


def _redetect(exclusion: Exclusion) -> None:
    for account in _affected_accounts(exclusion):
        detect_account(account=account)


def _is_expired(exclusion: Exclusion, *, today: date | None = None) -> bool:
    return exclusion.expires_on < (today or timezone.localdate())
