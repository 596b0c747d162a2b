"""Write functions: store each principal's suggestion after a collection (or on demand)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from findings.models import AwsAccount, IamRole, IamUser, PolicySuggestion
from findings.models.fingerprints import fingerprint
from findings.rightsizing.selectors import compute_suggestions
from findings.rightsizing.validation import CHECKED_BY, aws_validation, document_key


def refresh_suggestions(*, account: AwsAccount, now: datetime | None = None) -> int:
    """Recompute the suggestion of every present user and role of the account, and store those
    that differ from the stored one (an unchanged suggestion is not written, and keeps its
    computed_at and Access Analyzer's check).

    Idempotent; a principal that went loses its suggestion. Returns how many are stored.
    """
    now = now or timezone.now()
    users = list(IamUser.objects.filter(account=account, gone_at=None))
    roles = list(IamRole.objects.filter(account=account, gone_at=None, is_service_linked=False))
    principals = {p.arn: p for p in [*users, *roles]}
    suggestions = compute_suggestions(account=account, principals=principals.values(), now=now)
    stored = dict(
        PolicySuggestion.objects.filter(account=account).values_list("principal_arn", "fingerprint")
    )
    rows = []
    for arn, data in suggestions.items():
        values = {
            "principal_type": data["kind"],
            "principal_name": data["name"],
            "principal_pk": principals[arn].pk,
            "tags": principals[arn].tags or {},
            "unused_days": data["unused_days"],
            "removed_services": len(data["removed_services"]),
            "removed_actions": data["removed_actions"],
            "removed_write_actions": data["removed_write_actions"],
            "removes_admin": data["removes_admin"],
            "changed_policies": sum(1 for c in data["changes"] if c["action"] != "keep"),
            "action_database": data["action_database"],
        }
        print_ = fingerprint(
            {**values, "data": {k: v for k, v in data.items() if k != "generated_at"}}
        )
        if stored.get(arn) == print_:
            continue
        rows.append(
            PolicySuggestion(
                account=account,
                principal_arn=arn,
                computed_at=now,
                data=data,
                fingerprint=print_,
                **values,
            )
        )
    fields = [
        f.name
        for f in PolicySuggestion._meta.concrete_fields
        if f.name not in ("id", "account", "principal_arn")
    ]
    with transaction.atomic():
        PolicySuggestion.objects.filter(account=account).exclude(
            principal_arn__in=list(suggestions)
        ).delete()
        PolicySuggestion.objects.bulk_create(
            rows,
            batch_size=200,
            update_conflicts=True,
            unique_fields=["account", "principal_arn"],
            update_fields=fields,
        )
    return len(suggestions)


def record_aws_validation(
    *, account: AwsAccount, check: Callable[[dict], list[dict[str, Any]]]
) -> int:
    """Replace the local check of each stored suggestion by Access Analyzer's ValidatePolicy.

    ``check`` answers ValidatePolicy's findings for one document (each with ``finding_type``,
    ``issue_code``, ``details`` and ``blocks``); it raises when AWS cannot be reached, and then
    nothing is changed. Size limits stay checked locally. Returns how many suggestions changed.
    """
    suggestions = list(PolicySuggestion.objects.filter(account=account, changed_policies__gt=0))
    seen: dict[str, list[dict[str, Any]]] = {}

    def findings_of(document: dict) -> list[dict[str, Any]]:
        key = document_key(document=document)
        if key not in seen:
            seen[key] = check(document)
        return seen[key]

    # A suggestion AWS already checked is one refresh_suggestions left as it was: the same
    # documents, so no call and no write. A changed one came back with the local check.
    suggestions = [
        s for s in suggestions if (s.data.get("validation") or {}).get("checked_by") != CHECKED_BY
    ]
    for suggestion in suggestions:
        suggestion.data["validation"] = aws_validation(
            data=suggestion.data, findings_of=findings_of
        )
    # Only onto the suggestions that were checked: one recomputed meanwhile (another source's
    # run refreshing the account while AWS answered) keeps its own data and local check, and is
    # sent next time. The rows are locked from this read to the write, which a refresh waits for.
    with transaction.atomic():
        current = dict(
            PolicySuggestion.objects.select_for_update()
            .filter(pk__in=[s.pk for s in suggestions])
            .values_list("pk", "fingerprint")
        )
        unchanged = [s for s in suggestions if current.get(s.pk) == s.fingerprint]
        PolicySuggestion.objects.bulk_update(unchanged, ["data"], batch_size=200)
    return len(unchanged)
