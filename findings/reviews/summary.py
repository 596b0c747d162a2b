"""The sign-off summary: what an approver attests to, in one page, and its hash.

Counts per decision, every accepted risk with its expiry and justification, remediations not yet
verified, who decided what (and whether anyone decided about themselves or their own team),
decided items whose fresh data changed (or went missing) since the cycle froze them, items
marked "no response" at the due date, and items still open. The approver signs against the
summary's hash: if anything changes between reading and signing, the sign-off is refused.
"""

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date

from accounts.models import LinkedIdentity
from findings.models import Decision, ReviewCycle, ReviewItem
from findings.reviews.teams import team_of, teams_of_arns


@dataclass
class SummaryLine:
    item_id: int
    title: str
    decided_by: str = ""
    justification: str = ""
    expires_on: date | None = None
    note: str = ""


@dataclass
class ChangedLine:
    """A decided item whose fresh data no longer matches what the cycle froze (the decision
    was made on the frozen evidence): what the item's "Fresh data changed" mark says."""

    item_id: int
    title: str
    decided_by: str
    decision: str  # the latest decision's kind ("keep", "remediate", ...)
    freshness: str  # "changed", or "gone" (fresh data no longer has the subject)
    # What changed, in a reviewer's words ("policies", "MFA"): empty when gone, or while the
    # next detection has not worked it out yet.
    changes: list[str] = field(default_factory=list)

    @property
    def decision_label(self) -> str:
        return Decision.Kind(self.decision).label


@dataclass
class Decider:
    name: str
    counts: dict[str, int]  # decision label: count
    total: int


@dataclass
class SignOffSummary:
    total: int
    counts: list[tuple[str, str, int]]  # (kind, label, count), every kind
    accepted_risks: list[SummaryLine] = field(default_factory=list)
    remediations_pending: list[SummaryLine] = field(default_factory=list)
    deciders: list[Decider] = field(default_factory=list)
    conflicts_of_interest: list[SummaryLine] = field(default_factory=list)
    # Decided on evidence that fresh data no longer shows (ReviewItem.freshness, kept current by
    # each detection): the approver attests knowing the decision was made on what was frozen.
    changed_since_frozen: list[ChangedLine] = field(default_factory=list)
    no_response: list[SummaryLine] = field(default_factory=list)
    still_open: list[SummaryLine] = field(default_factory=list)
    # Role ARNs a release named that no collected account holds: not in the population, so not
    # reviewed; the approver attests knowing it.
    not_reviewed: list[str] = field(default_factory=list)
    # (item id, latest decision id) of every decided item: any decision made since the
    # approver read the summary changes the digest, not only one that moves a count.
    decided: list[tuple[int, int]] = field(default_factory=list, repr=False)
    digest: str = ""


@dataclass
class _Decider:
    arns: set[str]
    teams: set[str]


def _deciders_teams(cycle: ReviewCycle, decisions: list[Decision]) -> dict[int, _Decider]:
    """{decision id: the decider's own IAM ARNs and their teams} for these decisions of the
    cycle. A decider's own ARNs are those the decision recorded (`decider_links`, as linked
    when they decided: a link removed since still counts) and those linked to them now (a
    link made since names the same person). The teams of the recorded ARNs are those the
    decision recorded (`decider_teams`: a `team` tag changed since does not move the
    decision); a decision made before teams were recorded, and ARNs linked since, go by
    today's tags. At most two queries, whatever the number of deciders."""
    links = LinkedIdentity.objects.filter(
        user_id__in=Decision.objects.filter(item__cycle=cycle).values("decided_by_id")
    )
    linked_now: dict[int, set[str]] = {}
    for user_id, arn in links.values_list("user_id", "arn"):
        linked_now.setdefault(user_id, set()).add(arn)
    own = {
        decision.pk: set(decision.decider_links or [])
        | linked_now.get(decision.decided_by_id, set())
        for decision in decisions
    }
    # Today's teams only for the ARNs whose teams no decision recorded.
    unrecorded = {
        arn
        for decision in decisions
        for arn in own[decision.pk]
        if decision.decider_teams is None or arn not in (decision.decider_links or [])
    }
    teams_now = teams_of_arns(arns=unrecorded)
    deciders = {}
    for decision in decisions:
        recorded = set(decision.decider_links or [])
        teams = set(decision.decider_teams or [])
        for arn in own[decision.pk]:
            if decision.decider_teams is None or arn not in recorded:
                teams |= teams_now.get(arn, set())
        deciders[decision.pk] = _Decider(arns=own[decision.pk], teams=teams)
    return deciders


def summary_document(*, summary: SignOffSummary) -> dict:
    """The summary as JSON (dates as ISO text): what sign-off stores as signed and the evidence
    pack ships as sign_off_summary.json."""
    return json.loads(json.dumps(asdict(summary), default=str))


DIGEST_VERSION = 3


def summary_digest(*, document: dict, version: int = DIGEST_VERSION) -> str:
    """The digest of a summary document (summary_document), so the same from the stored
    document, from a pack's file and from a summary just computed. Version 2 (2026-11-30) adds
    each item's latest decision and the roles not reviewed; version 3 (2026-12-01) the decided
    items changed since frozen, with what changed. Cycles signed before keep the digest they
    were signed against (a document stored before version 3 has no changed_since_frozen)."""
    comparable = {
        "total": document["total"],
        "counts": document["counts"],
        "accepted_risks": [
            (line["item_id"], line["expires_on"], line["justification"])
            for line in document["accepted_risks"]
        ],
        "remediations_pending": [line["item_id"] for line in document["remediations_pending"]],
        "deciders": [(d["name"], sorted(d["counts"].items())) for d in document["deciders"]],
        "conflicts_of_interest": [
            (line["item_id"], line["note"]) for line in document["conflicts_of_interest"]
        ],
        "no_response": [line["item_id"] for line in document["no_response"]],
        "still_open": [line["item_id"] for line in document["still_open"]],
    }
    if version >= 2:
        comparable.update(decided=document["decided"], not_reviewed=document["not_reviewed"])
    if version >= 3:
        comparable["changed_since_frozen"] = [
            (line["item_id"], line["freshness"], line["changes"])
            for line in document.get("changed_since_frozen", [])
        ]
    text = json.dumps(comparable, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def digest_against(*, document: dict, signed_hash: str) -> str:
    """The document's digest, in the version `signed_hash` was signed with (the current
    version unless only an earlier one matches)."""
    digest = summary_digest(document=document)
    if signed_hash and digest != signed_hash:
        for version in range(DIGEST_VERSION - 1, 0, -1):
            earlier = summary_digest(document=document, version=version)
            if earlier == signed_hash:
                return earlier
    return digest


def _digest(summary: SignOffSummary, *, version: int = DIGEST_VERSION) -> str:
    return summary_digest(document=summary_document(summary=summary), version=version)


def sign_off_summary(*, cycle: ReviewCycle) -> SignOffSummary:
    """The summary of the cycle's latest decisions. Three queries whatever the cycle's size."""
    items = list(
        ReviewItem.objects.filter(cycle=cycle)
        .select_related("latest_decision__decided_by")
        .order_by("severity_rank", "title", "id")
    )
    decisions = [item.latest_decision for item in items if item.is_decided]
    kinds = Counter(decision.kind for decision in decisions)
    summary = SignOffSummary(
        total=len(items),
        counts=[(kind, label, kinds.get(kind, 0)) for kind, label in Decision.Kind.choices],
        not_reviewed=sorted(cycle.unknown_role_arns or []),
    )
    deciders = _deciders_teams(cycle, decisions)
    per_person: dict[int, Counter] = {}
    names: dict[int, str] = {}
    for item in items:
        decision = item.latest_decision
        if not item.is_decided:
            line = SummaryLine(item_id=item.pk, title=item.title)
            (summary.no_response if item.no_response_at else summary.still_open).append(line)
            continue
        summary.decided.append((item.pk, decision.pk))
        person = decision.decided_by
        names[person.pk] = person.display_name
        per_person.setdefault(person.pk, Counter())[Decision.Kind(decision.kind).label] += 1
        line = SummaryLine(
            item_id=item.pk,
            title=item.title,
            decided_by=person.display_name,
            justification=decision.justification,
            expires_on=decision.expires_on,
        )
        if decision.kind == Decision.Kind.ACCEPT_RISK:
            summary.accepted_risks.append(line)
        if decision.kind == Decision.Kind.REMEDIATE and item.remediation != "verified":
            summary.remediations_pending.append(line)
        if item.freshness:
            summary.changed_since_frozen.append(
                ChangedLine(
                    item_id=item.pk,
                    title=item.title,
                    decided_by=person.display_name,
                    decision=decision.kind,
                    freshness=item.freshness,
                    changes=list((item.fresh_changes or {}).get("parts") or []),
                )
            )
        facts = (item.frozen_evidence or {}).get("facts") or {}
        subject_team = team_of(tags=facts.get("tags"))
        decider = deciders[decision.pk]
        own_arns, own_teams = decider.arns, decider.teams
        if item.subject_arn in own_arns:
            summary.conflicts_of_interest.append(
                SummaryLine(item.pk, item.title, person.display_name, note="their own identity")
            )
        elif subject_team and subject_team in own_teams:
            summary.conflicts_of_interest.append(
                SummaryLine(
                    item.pk,
                    item.title,
                    person.display_name,
                    note=f"their own team “{subject_team}”",
                )
            )
    summary.deciders = sorted(
        (
            Decider(name=names[pk], counts=dict(counts), total=sum(counts.values()))
            for pk, counts in per_person.items()
        ),
        key=lambda decider: (-decider.total, decider.name),
    )
    summary.digest = digest_against(
        document=summary_document(summary=summary), signed_hash=cycle.signed_summary_hash
    )
    return summary
