"""Exclusions: keep matching findings visible but out of the queues, with a reason, until a date.

Creating or ending one is audited in the same transaction, then detection runs again for the
accounts it can touch, so findings move to or from "excluded" at once rather than at the next
collection.

One administrator can set findings aside for a year, so creating one has guardrails: a reason
an auditor can read, no pattern that matches every resource of every account, a preview of
what it sets aside now, and an explicit confirmation when that includes a critical finding.
"""

import fnmatch
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from findings.audit import services as audit
from findings.detection.detect import detect_account
from findings.detection.selectors import check_choices
from findings.models import AwsAccount, Exclusion, Finding, IamRole, IamUser
from findings.models.findings import Severity
from findings.models.tags import with_tag

# At most a year out; the same limit as an accepted risk (findings.reviews.services).
MAX_DAYS = 365
# Held while an exclusion is created: two identical submissions at once make one.
EXCLUSION_LOCK_ID = 7_311_202_614
# arn:partition:service:region:account:resource, each part a glob (region and account may be
# empty, as in S3 and IAM ARNs); no whitespace anywhere.
ARN_GLOB = re.compile(r"^arn:[a-z*?-]+:[a-z0-9*?-]+:[a-z0-9*?-]*:([0-9]{12}|[0-9*?]*):\S+$")
KIND_FIELDS = {
    Exclusion.Kind.ARN_PATTERN: {"arn_pattern"},
    Exclusion.Kind.ACCOUNT: {"account"},
    Exclusion.Kind.TAG: {"tag_key", "tag_value"},
    Exclusion.Kind.FINDING: {"finding"},
}
TARGET_FIELDS = {"arn_pattern", "account", "tag_key", "tag_value", "finding"}
# Long enough for a ticket and a few words; "x" or "temp" tells an auditor nothing.
MIN_REASON_LENGTH = 20
REASON_MESSAGE = (
    f"Say why these findings may be set aside, in at least {MIN_REASON_LENGTH} characters "
    "(a ticket, a plan, a date); auditors will read it."
)
# Two principals of two accounts with nothing in common but being IAM principals: a pattern
# that matches both pins neither an account nor a resource (`*`, `arn:*`, `arn:*:*::*:*`,
# `arn:aws:iam::*:*`), so it would set aside nearly every finding of every account.
EVERYTHING = ("arn:aws:iam::111111111111:role/a", "arn:aws:iam::222222222222:user/b")
TOO_BROAD_MESSAGE = (
    "This pattern matches every resource of every account. To set one account aside, "
    "choose “Whole account”; otherwise name an account or a resource, e.g. "
    "arn:aws:iam::123456789012:role/legacy-*"
)
CONFIRM_MESSAGE = (
    "This sets critical findings aside: tick the box to confirm, or narrow the exclusion."
)


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
    if len(" ".join(reason.split())) < MIN_REASON_LENGTH:
        errors["reason"] = REASON_MESSAGE
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
        elif matches_everything(pattern=pattern):
            errors["arn_pattern"] = TOO_BROAD_MESSAGE
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


def matches_everything(*, pattern: str) -> bool:
    """Whether an ARN pattern names neither an account nor a resource: it matches both sample
    ARNs, or its account and its resource are wildcards alone (`arn:aws:iam::*:*???????`,
    padded past the samples' length, reads every resource all the same)."""
    if all(fnmatch.fnmatchcase(arn, pattern) for arn in EVERYTHING):
        return True
    parts = pattern.split(":", 5)
    if len(parts) < 6:
        return not pattern.strip("*?")  # no ARN's shape: only wildcards match anything
    account, resource = parts[4], parts[5]
    return not account.strip("*?") and not resource.strip("*?/")


@dataclass(frozen=True)
class ExclusionPreview:
    """What an exclusion would set aside now: its open findings by severity."""

    counts: dict[str, int]
    # Names the target and these counts: a confirmation that echoes it confirms what was shown.
    token: str

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def critical(self) -> int:
        return self.counts.get(Severity.CRITICAL, 0)

    @property
    def by_severity(self) -> list[tuple[str, str, int]]:
        """(severity, label, count) of each severity it sets aside, most severe first."""
        return [(value, label, n) for value, label in Severity.choices if (n := self.counts[value])]


def _checked(
    *,
    kind: str,
    reason: str,
    owner: User | None,
    expires_on: date | None,
    arn_pattern: str,
    account: AwsAccount | None,
    tag_key: str,
    tag_value: str,
    check_id: str,
    finding: Finding | None,
) -> tuple[dict, str]:
    """The target's values and the check, stripped; ValidationError with a message per field."""
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
    return values, check_id


def _set_end(pattern: str, start: int) -> int:
    """Where the [set] opened just before `start` ends, as fnmatch reads it (-1: no set)."""
    if pattern[start : start + 1] == "!":
        start += 1
    if pattern[start : start + 1] == "]":
        start += 1
    return pattern.find("]", start)


def _glob_regex(pattern: str) -> str:
    """A regular expression matching at least what the shell-style pattern matches (a [set]
    becomes any one character), for the database to narrow with; fnmatch then decides."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and (end := _set_end(pattern, i)) != -1:
            out.append(".")
            i = end + 1
        else:
            out.append("\\" + char if char in ".^$*+?()[]{}|\\" else char)
    return "^" + "".join(out) + "$"


def _tagged_arns(model: type[IamUser] | type[IamRole], *, key: str, value: str) -> QuerySet:
    principals = with_tag(rows=model.objects.filter(gone_at=None), key=key, value=value or None)
    return principals.values("arn")


def _set_aside_now(*, kind: str, values: dict, check_id: str) -> dict[str, int]:
    """Open findings by severity that the exclusion would set aside at once, matched as
    detection matches (findings.detection.detect._matching_exclusion): an open finding matches
    no exclusion in force, so the new one is the one that sets it aside."""
    counts = dict.fromkeys(Severity.values, 0)
    findings = Finding.objects.filter(status=Finding.Status.OPEN).order_by()
    if check_id:
        findings = findings.filter(check_id=check_id)
    if kind == Exclusion.Kind.ARN_PATTERN:
        pattern = values["arn_pattern"]
        rows = findings.filter(resource_arn__regex=_glob_regex(pattern)).values_list(
            "severity", "resource_arn"
        )
        for severity, arn in rows.iterator(chunk_size=2000):
            if fnmatch.fnmatchcase(arn, pattern):
                counts[severity] += 1
        return counts
    if kind == Exclusion.Kind.ACCOUNT:
        findings = findings.filter(account=values["account"])
    elif kind == Exclusion.Kind.FINDING:
        findings = findings.filter(pk=values["finding"].pk)
    elif kind == Exclusion.Kind.TAG:
        # A tag never sets a critical finding aside.
        key, value = values["tag_key"], values["tag_value"]
        findings = findings.exclude(severity=Severity.CRITICAL).filter(
            Q(resource_arn__in=_tagged_arns(IamUser, key=key, value=value))
            | Q(resource_arn__in=_tagged_arns(IamRole, key=key, value=value))
        )
    for severity, n in (
        findings.values("severity").annotate(n=Count("id")).values_list("severity", "n")
    ):
        counts[severity] = n
    return counts


def _preview(*, kind: str, values: dict, check_id: str) -> ExclusionPreview:
    counts = _set_aside_now(kind=kind, values=values, check_id=check_id)
    named = {name: getattr(value, "pk", value) for name, value in values.items()}
    described = json.dumps(
        {"kind": kind, "check_id": check_id, "counts": counts, **named}, sort_keys=True
    )
    return ExclusionPreview(
        counts=counts, token=hashlib.sha256(described.encode()).hexdigest()[:24]
    )


def preview_exclusion(
    *,
    kind: str,
    reason: str,
    owner: User | None,
    expires_on: date | None,
    arn_pattern: str = "",
    account: AwsAccount | None = None,
    tag_key: str = "",
    tag_value: str = "",
    check_id: str = "",
    finding: Finding | None = None,
) -> ExclusionPreview:
    """Validate an exclusion as create_exclusion does and say what it would set aside now.

    Raises ValidationError with a message per field name.
    """
    values, check_id = _checked(
        kind=kind,
        reason=reason,
        owner=owner,
        expires_on=expires_on,
        arn_pattern=arn_pattern,
        account=account,
        tag_key=tag_key,
        tag_value=tag_value,
        check_id=check_id,
        finding=finding,
    )
    return _preview(kind=kind, values=values, check_id=check_id)


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
    critical_confirmed: bool = False,
) -> Exclusion:
    """Validate, store and audit an exclusion, then re-detect the accounts it can touch.

    One that sets a critical finding aside now needs `critical_confirmed`. Raises
    ValidationError with a message per field name ("confirm_critical" for the confirmation).
    """
    values, check_id = _checked(
        kind=kind,
        reason=reason,
        owner=owner,
        expires_on=expires_on,
        arn_pattern=arn_pattern,
        account=account,
        tag_key=tag_key,
        tag_value=tag_value,
        check_id=check_id,
        finding=finding,
    )
    preview = _preview(kind=kind, values=values, check_id=check_id)
    if preview.critical and not critical_confirmed:
        raise ValidationError({"confirm_critical": CONFIRM_MESSAGE})
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EXCLUSION_LOCK_ID])
        same = (
            Exclusion.objects.filter(
                kind=kind,
                check_id=check_id,
                ended_at=None,
                expires_on__gte=timezone.localdate(),
                **values,
            )
            .select_related("created_by")
            .first()
        )
        if same is not None:
            if (
                same.created_by_id == created_by.pk
                and same.reason == reason.strip()
                and same.owner_id == (owner.pk if owner else None)
                and same.expires_on == expires_on
            ):
                return same  # the same form sent again (a double click, a retry): no second
            # Two in force over the same findings: ending one would leave them set aside.
            who = same.created_by.display_name if same.created_by else "someone"
            raise ValidationError(
                f"An exclusion of exactly this scope is already in force: {same.describe()}, "
                f"until {same.expires_on:%Y-%m-%d}, added by {who}. End it first to replace it."
            )
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
            # What it set aside at once, by severity (criticals only with a confirmation).
            after={**_snapshot(exclusion), "set_aside_now": preview.counts},
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
