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
from findings.reviews.substance import changed_parts, substance_hash


def freshness_of(*, frozen_hash: str | None, fresh_hashes: tuple[str, ...]) -> str:
    """ "gone" when fresh data no longer has the subject, "changed" when its substance differs
    from each way fresh data may read (with or without the findings reviewers set aside)."""
    if not fresh_hashes:
        return ReviewItem.Freshness.GONE
    if frozen_hash not in fresh_hashes:
        return ReviewItem.Freshness.CHANGED
    return ReviewItem.Freshness.SAME


def _fresh_evidence(
    *, kind: str, account: AwsAccount, arns: list[str], decided: set[int]
) -> dict[str, list[tuple[str, dict]]]:
    """Per subject, its substance hash and evidence as fresh data shows it counting the
    `decided` findings (set aside by a reviewer's decision) as still there, and without them.
    A cycle that froze a finding before the decision set it aside matches the first; one that
    opened after, the second: neither is a change in AWS."""
    if kind == ReviewCycle.Kind.MONTHLY:
        specs: list[ItemSpec] = monthly_population(accounts=[account], decided=decided)
    elif kind == ReviewCycle.Kind.QUARTERLY:
        specs = quarterly_population(accounts=[account], decided=decided)
    else:
        specs, _ = release_population(role_arns=arns, decided=decided)
    readings: dict[str, list[tuple[str, dict]]] = {}
    for spec in specs:
        readings[spec.subject_key] = [(spec.substance_hash, spec.evidence)]
        findings = spec.evidence.get("findings") or []
        kept = [f for f in findings if f.get("id") not in decided]
        if len(kept) != len(findings) and spec.subject_type != "finding":
            # (A finding's own item without it is no such subject.)
            without = {**spec.evidence, "findings": kept}
            readings[spec.subject_key].append((substance_hash(evidence=without), without))
    return readings


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


def _changes_against(*, frozen: dict, readings: list[tuple[str, dict]]) -> dict:
    """What changed, against the reading of fresh data closest to the frozen evidence, and
    that reading's hash (the parts need working out again only when it moves)."""
    parts, against = min(
        (
            (changed_parts(frozen=frozen, fresh=evidence), fresh_hash)
            for fresh_hash, evidence in readings
        ),
        key=lambda found: len(found[0]),
    )
    return {"against": against, "parts": parts}


def refresh_freshness(*, account: AwsAccount) -> int:
    """Bring the freshness of every open cycle's items about this account up to date, and
    for those that changed, what changed (`fresh_changes`).

    One population build per cycle kind for this account; the frozen evidence is read only of
    the items whose fresh data moved since it was last compared. Then a bulk update of only the
    rows whose state or changes move, of cycles still open: one signed off while the
    population was built (seconds for a large account) is left alone, its items locked.
    Returns the number of item rows written.
    """
    items = list(
        ReviewItem.objects.filter(account=account, cycle__state=ReviewCycle.State.OPEN).values_list(
            "pk",
            "cycle__kind",
            "subject_key",
            "subject_arn",
            "substance_hash",
            "freshness",
            "fresh_changes",
            named=True,
        )
    )
    if not items:
        return 0
    by_kind: dict[str, list] = defaultdict(list)
    for row in items:
        by_kind[row.cycle__kind].append(row)
    outcomes: dict[int, tuple[str, dict | None]] = {}
    to_compare: dict[int, list[tuple[str, dict]]] = {}
    decided = _decided_findings(account=account)
    for kind, rows in by_kind.items():
        arns = sorted({row.subject_arn for row in rows})
        fresh = _fresh_evidence(kind=kind, account=account, arns=arns, decided=decided)
        for row in rows:
            readings = fresh.get(row.subject_key, [])
            state = freshness_of(
                frozen_hash=row.substance_hash, fresh_hashes=tuple(h for h, _ in readings)
            )
            if state != ReviewItem.Freshness.CHANGED:
                outcomes[row.pk] = (state, None)
            elif row.fresh_changes and row.fresh_changes.get("against") in {h for h, _ in readings}:
                outcomes[row.pk] = (state, row.fresh_changes)  # compared with this reading already
            else:
                to_compare[row.pk] = readings
    frozen = {}
    if to_compare:
        frozen = dict(
            ReviewItem.objects.filter(pk__in=list(to_compare)).values_list("pk", "frozen_evidence")
        )
    for pk, readings in to_compare.items():
        outcomes[pk] = (
            ReviewItem.Freshness.CHANGED,
            _changes_against(frozen=frozen.get(pk) or {}, readings=readings),
        )
    moves = {
        row.pk: outcomes[row.pk]
        for row in items
        if outcomes[row.pk] != (row.freshness, row.fresh_changes)
    }
    if not moves:
        return 0
    with transaction.atomic():
        open_ids = lock_open_cycles_of(item_ids=list(moves))
        writable = ReviewItem.objects.filter(pk__in=list(moves), cycle_id__in=open_ids)
        rows = [
            ReviewItem(pk=pk, freshness=moves[pk][0], fresh_changes=moves[pk][1])
            for pk in writable.values_list("pk", flat=True)
        ]
        ReviewItem.objects.bulk_update(rows, ["freshness", "fresh_changes"], batch_size=500)
    return len(rows)


def detect_and_refresh(*, account: AwsAccount) -> DetectionCounts:
    """Detection, then the freshness of the open cycles' items about the same account."""
    counts = detect_account(account=account)
    refresh_freshness(account=account)
    return counts
