"""Whether fresh data has changed since a cycle froze each item, computed once per detection.

The queue and item pages only read `ReviewItem.freshness`; this module keeps it current. It
rebuilds the population of one account (not of every cycle, and never per request) and writes
only the items whose state moves, so an unchanged re-collection writes no item rows. What it
compares is each item's substance (reviews/substance.py), not its integrity hash: a user who
signed in or a key that was used is no change, a new key, policy or finding is.
"""

from collections import defaultdict

from django.db import transaction

from findings.detection.detect import DetectionCounts, detect_account
from findings.models import AwsAccount, Exclusion, Finding, ReviewCycle, ReviewItem
from findings.reviews.evidence import (
    ItemSpec,
    monthly_population,
    quarterly_population,
    release_population,
)
from findings.reviews.locks import lock_open_cycles_of
from findings.reviews.substance import substance_hash


def freshness_of(*, frozen_hash: str | None, fresh_hashes: tuple[str, ...]) -> str:
    """ "gone" when fresh data no longer has the subject, "changed" when its substance differs
    from each way fresh data may read (with or without the findings reviewers set aside)."""
    if not fresh_hashes:
        return ReviewItem.Freshness.GONE
    if frozen_hash not in fresh_hashes:
        return ReviewItem.Freshness.CHANGED
    return ReviewItem.Freshness.SAME


def _fresh_hashes(
    *, kind: str, account: AwsAccount, arns: list[str], decided: set[int]
) -> dict[str, tuple[str, ...]]:
    """Per subject, its substance hash as fresh data shows it counting the `decided` findings
    (set aside by a reviewer's decision) as still there, and without them. A cycle that froze
    a finding before the decision set it aside matches the first; one that opened after,
    the second: neither is a change in AWS."""
    if kind == ReviewCycle.Kind.MONTHLY:
        specs: list[ItemSpec] = monthly_population(accounts=[account], decided=decided)
    elif kind == ReviewCycle.Kind.QUARTERLY:
        specs = quarterly_population(accounts=[account], decided=decided)
    else:
        specs, _ = release_population(role_arns=arns, decided=decided)
    hashes: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        findings = spec.evidence.get("findings") or []
        kept = [f for f in findings if f.get("id") not in decided]
        if len(kept) == len(findings):
            hashes[spec.subject_key] = (spec.substance_hash,)
        elif spec.subject_type == "finding":
            hashes[spec.subject_key] = (spec.substance_hash,)  # without it, no such subject
        else:
            without = substance_hash(evidence={**spec.evidence, "findings": kept})
            hashes[spec.subject_key] = (spec.substance_hash, without)
    return hashes


def _decided_findings(*, account: AwsAccount) -> set[int]:
    """Findings of this account set aside by a reviewer's decision (risk accepted, false
    positive) and still excluded: the reviewer's doing, not fresh data's."""
    return set(
        Exclusion.objects.filter(
            decision__item__account=account,
            decision__isnull=False,
            ended_at=None,
            finding__status=Finding.Status.EXCLUDED,
        ).values_list("finding_id", flat=True)
    )


def refresh_freshness(*, account: AwsAccount) -> int:
    """Bring the freshness of every open cycle's items about this account up to date.

    One population build per cycle kind for this account, then at most three UPDATEs, each
    touching only rows whose state changes, of cycles still open: one signed off while the
    population was built (seconds for a large account) is left alone, its items locked.
    Returns the number of item rows written.
    """
    items = list(
        ReviewItem.objects.filter(account=account, cycle__state=ReviewCycle.State.OPEN).values_list(
            "pk", "cycle__kind", "subject_key", "subject_arn", "substance_hash", "freshness"
        )
    )
    if not items:
        return 0
    by_kind: dict[str, list[tuple]] = defaultdict(list)
    for row in items:
        by_kind[row[1]].append(row)
    moves: dict[str, list[int]] = defaultdict(list)
    decided = _decided_findings(account=account) if by_kind else set()
    for kind, rows in by_kind.items():
        arns = sorted({arn for _, _, _, arn, _, _ in rows})
        fresh = _fresh_hashes(kind=kind, account=account, arns=arns, decided=decided)
        for pk, _, key, _, frozen_hash, current in rows:
            state = freshness_of(frozen_hash=frozen_hash, fresh_hashes=fresh.get(key, ()))
            if state != current:
                moves[state].append(pk)
    if not moves:
        return 0
    with transaction.atomic():
        open_ids = lock_open_cycles_of(item_ids=[pk for pks in moves.values() for pk in pks])
        return sum(
            ReviewItem.objects.filter(
                pk__in=pks, cycle_id__in=open_ids, cycle__state=ReviewCycle.State.OPEN
            ).update(freshness=state)
            for state, pks in moves.items()
        )


def detect_and_refresh(*, account: AwsAccount) -> DetectionCounts:
    """Detection, then the freshness of the open cycles' items about the same account."""
    counts = detect_account(account=account)
    refresh_freshness(account=account)
    return counts
