"""What collection lets go: the raw copies of credential reports, once they are old.

Every collection whose report differs from the last (AWS's always does: its last-used columns
move) keeps the whole CSV, about 250 KB for a 1,000-user account, four times a day. Nothing
reads the older copies (detection, the pages, the API and the evidence packs read the rows of
the latest report); they are kept for CREDENTIAL_REPORT_KEEP_DAYS as what AWS said, then go.
"""

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q

from findings.models import CredentialReport
from findings.models.bulk import delete_in_batches

# Each copy is a whole report: a few at a time keeps each delete short.
PRUNE_BATCH = 50


def prune_credential_reports(
    *, now: datetime, keep_days: int, batch_size: int = PRUNE_BATCH
) -> int:
    """Delete the credential report copies collected more than `keep_days` before `now`, a
    batch at a time by id, and say how many went. Each account's latest copy stays however
    old: the evidence behind its current rows (a failed collection stores none, so an account
    whose collections fail, or that is no longer collected, keeps its last good one)."""
    newer = CredentialReport.objects.filter(account=OuterRef("account")).filter(
        Q(collected_at__gt=OuterRef("collected_at"))
        | Q(collected_at=OuterRef("collected_at"), pk__gt=OuterRef("pk"))
    )
    expired = CredentialReport.objects.filter(
        Exists(newer), collected_at__lt=now - timedelta(days=keep_days)
    ).order_by("pk")
    return delete_in_batches(rows=expired, batch_size=batch_size)
