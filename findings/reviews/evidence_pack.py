"""The evidence pack of a review cycle: what an auditor takes away and can verify on their own.

items.csv and decisions.csv for spreadsheets, cycle.json with every item's frozen evidence,
sign_off_summary.json (of a signed-off cycle, the summary as signed), VERIFY.txt, and
manifest.json with each file's SHA-256. Every item's evidence hash, the population hash and the
summary's digest can be recomputed from the pack alone (the *_METHOD texts, VERIFY.txt: both in
findings.reviews.pack_verify, which checks a pack). A fixed number of queries whatever the size
of the cycle.
"""

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone

from accounts.models import User
from findings.detection.selectors import finding_record, with_evidence_seen_at
from findings.export.tables import csv_text
from findings.models import AuditEntry, AwsAccount, Decision, Finding, ReviewCycle, ReviewItem
from findings.reviews.evidence import evidence_hash, population_hash
from findings.reviews.pack_verify import (
    EVIDENCE_HASH_METHOD,
    EXPORTED,
    NOT_SIGNED,
    POPULATION_HASH_METHOD,
    SIGNED,
    SIGNED_BEFORE_STORED,
    SUMMARY_DIGEST_METHOD,
    VERIFY_TEXT,
)

# The verify_evidence_pack command still imports it from here.
from findings.reviews.summary import digest_against, sign_off_summary, summary_document

# 2: VERIFY.txt; item hashes recomputed from the frozen evidence; a signed-off cycle's summary
# as signed, with the manifest's "sign_off_summary" saying which summary the pack holds.
# 3: each decision's decider_links (decisions.csv, cycle.json), each item's no_response_at
# (items.csv, cycle.json), and cycle.json's "scope" with the accounts a cycle of every account
# covered in "scope_accounts". Nothing VERIFY.txt recomputes changed.
# 4: each decision's decider_teams (decisions.csv as a JSON list, cycle.json): the teams of
# those identities when deciding, which the summary's conflict-of-interest check goes by (empty
# in decisions.csv and null in cycle.json for a decision made before teams were recorded).
# Still 4: sign_off_summary.json gained "changed_since_frozen" (decided items whose fresh data
# changed or is gone since frozen; digest version 3, which VERIFY.txt and the manifest's
# digest_method describe); a summary signed before it has no such key.
FORMAT_VERSION = 4
GENERATOR = {
    "name": "iamreview",
    "module": "findings.reviews.evidence_pack",
    "format": FORMAT_VERSION,
}
SUMMARY_NOTES = {
    SIGNED: "sign_off_summary.json is the summary document stored at sign-off: what the "
    "approver read and signed.",
    SIGNED_BEFORE_STORED: "The cycle was signed off before iamreview stored the signed "
    "summary: sign_off_summary.json was recomputed at export from the data as it is now, and "
    "is not the document the approver read. digest_matches_signed_hash says whether it still "
    "hashes to what was signed.",
    NOT_SIGNED: "The cycle is not signed off: sign_off_summary.json is the summary as of "
    "generated_at, signed by nobody.",
}
ITEM_COLUMNS = [
    "item_id",
    "account_id",
    "account_name",
    "subject_type",
    "subject_arn",
    "title",
    "severity",
    "evidence_hash",
    "assignee",
    "decision",
    "decided_by",
    "decided_at",
    "justification",
    "expires_on",
    "remediation",
    "verified_at",
    "verified_by_run",
    "no_response_at",
]
DECISION_COLUMNS = [
    "decision_id",
    "item_id",
    "subject_arn",
    "kind",
    "decided_by",
    "decided_at",
    "justification",
    "expires_on",
    "delegate_to",
    "bulk",
    "supersedes",
    "has_remediation_plan",
    "decider_links",
    "decider_teams",
]


@dataclass(frozen=True)
class EvidencePack:
    files: dict[str, bytes]
    manifest: dict

    @property
    def manifest_bytes(self) -> bytes:
        return _canonical_json(self.manifest)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _email(user) -> str | None:
    return user.email if user else None


def _canonical_json(value) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()


def _decision_row(decision: Decision, item: ReviewItem) -> dict:
    return {
        "decision_id": decision.pk,
        "item_id": item.pk,
        "subject_arn": item.subject_arn,
        "kind": decision.kind,
        "decided_by": decision.decided_by.email,
        "decided_at": _iso(decision.decided_at),
        "justification": decision.justification,
        "expires_on": _iso(decision.expires_on),
        "delegate_to": _email(decision.delegate_to),
        "bulk": decision.bulk,
        "supersedes": decision.supersedes_id,
        "has_remediation_plan": decision.remediation_plan is not None,
        # The IAM identities linked to the decider when deciding, which segregation of duties
        # was checked against (space-separated in decisions.csv, a list in cycle.json).
        "decider_links": " ".join(decision.decider_links or []),
        # Teams are tag values, which may hold spaces: a JSON list in decisions.csv ("" for a
        # decision made before teams were recorded).
        "decider_teams": ""
        if decision.decider_teams is None
        else json.dumps(decision.decider_teams, ensure_ascii=False),
    }


def _item_row(item: ReviewItem, latest: Decision | None) -> dict:
    return {
        "item_id": item.pk,
        "account_id": item.account.account_id,
        "account_name": item.account.name,
        "subject_type": item.subject_type,
        "subject_arn": item.subject_arn,
        "title": item.title,
        "severity": item.severity,
        "evidence_hash": item.evidence_hash,
        "assignee": _email(item.assignee),
        "decision": latest.kind if latest else None,
        "decided_by": latest.decided_by.email if latest else None,
        "decided_at": _iso(latest.decided_at) if latest else None,
        "justification": latest.justification if latest else None,
        "expires_on": _iso(latest.expires_on) if latest else None,
        "remediation": item.remediation or None,
        "verified_at": _iso(item.verified_at),
        "verified_by_run": item.verified_by_run_id,
        "no_response_at": _iso(item.no_response_at),
    }


def _covered_accounts(cycle: ReviewCycle) -> tuple[str, list[dict]]:
    """(scope, accounts): a scoped cycle's accounts; for a cycle of every account, those it
    covered when it opened, as its cycle.opened audit entry recorded them (an account that held
    nobody to review included). Two queries for a cycle of every account, none otherwise."""
    scoped = [{"account_id": a.account_id, "name": a.name} for a in cycle.scope_accounts.all()]
    if scoped:
        return "accounts", scoped
    opened = (
        AuditEntry.objects.filter(
            action="cycle.opened", target_type="review_cycle", target_id=str(cycle.pk)
        )
        .values_list("after", flat=True)
        .first()
    ) or {}
    ids = sorted(opened.get("accounts") or [])
    names = dict(AwsAccount.objects.filter(account_id__in=ids).values_list("account_id", "name"))
    return "every_account", [{"account_id": i, "name": names.get(i, "")} for i in ids]


def _cycle_document(cycle: ReviewCycle, items: list[ReviewItem]) -> dict:
    signed = cycle.state == ReviewCycle.State.SIGNED_OFF
    scope, scope_accounts = _covered_accounts(cycle)
    return {
        "cycle": {
            "id": cycle.pk,
            "kind": cycle.kind,
            "title": cycle.title,
            "period": cycle.period,
            "state": cycle.state,
            "opened_at": _iso(cycle.opened_at),
            "opened_by": _email(cycle.opened_by),
            "due_on": _iso(cycle.due_on),
            # "accounts": the cycle was opened for scope_accounts; "every_account": for every
            # enabled account, and scope_accounts are those it covered when it opened (empty
            # for a cycle opened before iamreview recorded them).
            "scope": scope,
            "scope_accounts": scope_accounts,
            "population_hash": cycle.population_hash,
            "population_count": cycle.population_count,
            "application": cycle.application,
            "version": cycle.version,
            "notes": cycle.notes,
            "unknown_role_arns": cycle.unknown_role_arns,
            "sign_off": {
                "approver": _email(cycle.signed_off_by),
                "signed_off_at": _iso(cycle.signed_off_at),
                "attestation": cycle.attestation,
                "signed_population_hash": cycle.signed_population_hash,
                # The digest of the summary the approver read when signing: that of
                # sign_off_summary.json when the manifest's sign_off_summary says "signed".
                "signed_summary_hash": cycle.signed_summary_hash,
                "summary_stored": cycle.signed_summary is not None,
            }
            if signed
            else None,
        },
        "items": [
            {
                "id": item.pk,
                "account": {"account_id": item.account.account_id, "name": item.account.name},
                "subject_type": item.subject_type,
                "subject_arn": item.subject_arn,
                "subject_key": item.subject_key,
                "title": item.title,
                "severity": item.severity,
                "evidence_hash": item.evidence_hash,
                "frozen_evidence": item.frozen_evidence,
                "assignee": _email(item.assignee),
                "latest_decision_id": item.latest_decision_id,
                "decided": item.is_decided,
                "remediation": item.remediation or None,
                "verified_at": _iso(item.verified_at),
                "verified_by_run": item.verified_by_run_id,
                "no_response_at": _iso(item.no_response_at),
                "follows_item": item.follows_item_id,
                "findings": [finding_record(finding=f) for f in item.findings.all()],
                "decisions": [
                    {
                        **_decision_row(d, item),
                        "decider_links": d.decider_links or [],
                        "decider_teams": d.decider_teams,
                        "remediation_plan": d.remediation_plan,
                    }
                    for d in item.decisions.all()
                ],
                "plan_check": item.plan_check or None,
            }
            for item in items
        ],
    }


def _load_cycle(cycle: ReviewCycle) -> tuple[ReviewCycle, list[ReviewItem]]:
    """The cycle with everything the pack shows, in five queries."""
    cycle = (
        ReviewCycle.objects.select_related("opened_by", "signed_off_by")
        .prefetch_related("scope_accounts")
        .get(pk=cycle.pk)
    )
    items = list(
        ReviewItem.objects.filter(cycle=cycle)
        .select_related("account", "assignee")
        .prefetch_related(
            Prefetch(
                "decisions",
                queryset=Decision.objects.select_related("decided_by", "delegate_to").order_by(
                    "decided_at", "id"
                ),
            ),
            Prefetch(
                "findings",
                queryset=with_evidence_seen_at(
                    findings=Finding.objects.select_related("account").order_by("id")
                ),
            ),
        )
        .order_by("id")
    )
    return cycle, items


def _summary_in_pack(cycle: ReviewCycle) -> tuple[dict, dict]:
    """The summary document the pack ships, and what the manifest says of it. A signed-off
    cycle's is the one stored at sign-off: one computed now would show what changed since
    (a remediation verified, a decider renamed) under the signed hash. Three queries when it
    is computed (open cycles, and those signed before it was stored), none otherwise."""
    signed = cycle.state == ReviewCycle.State.SIGNED_OFF
    if signed and cycle.signed_summary is not None:
        document, status = cycle.signed_summary, SIGNED
    else:
        document = summary_document(summary=sign_off_summary(cycle=cycle))
        status = SIGNED_BEFORE_STORED if signed else NOT_SIGNED
    digest = digest_against(document=document, signed_hash=cycle.signed_summary_hash)
    return document, {
        "status": status,
        "note": SUMMARY_NOTES[status],
        "digest": digest,
        "digest_method": SUMMARY_DIGEST_METHOD,
        "signed_summary_hash": cycle.signed_summary_hash if signed else None,
        "digest_matches_signed_hash": digest == cycle.signed_summary_hash if signed else None,
    }


def build_evidence_pack(*, cycle: ReviewCycle) -> EvidencePack:
    cycle, items = _load_cycle(cycle)
    decisions_by_id = {d.pk: d for item in items for d in item.decisions.all()}
    summary, summary_check = _summary_in_pack(cycle)
    # Each item's hash recomputed from its frozen evidence: a stored hash only says what the
    # evidence was, not that it still is.
    altered = [
        item.pk
        for item in items
        if evidence_hash(evidence=item.frozen_evidence) != item.evidence_hash
    ]
    signed = cycle.state == ReviewCycle.State.SIGNED_OFF
    files = {
        "items.csv": csv_text(
            [_item_row(item, decisions_by_id.get(item.latest_decision_id)) for item in items],
            ITEM_COLUMNS,
        ).encode(),
        "decisions.csv": csv_text(
            [_decision_row(d, item) for item in items for d in item.decisions.all()],
            DECISION_COLUMNS,
        ).encode(),
        "cycle.json": _canonical_json(_cycle_document(cycle, items)),
        # What the approver attests to: counts, accepted risks, pending remediations, who
        # decided what. Which summary it is: the manifest's "sign_off_summary".
        "sign_off_summary.json": _canonical_json(summary),
        "VERIFY.txt": VERIFY_TEXT.encode(),
    }
    manifest = {
        "cycle_id": cycle.pk,
        "cycle_state": cycle.state,
        "population_hash": cycle.population_hash,
        "population_count": cycle.population_count,
        # Recomputed from the items' frozen evidence: false means the frozen population (an
        # item's evidence, or its recorded hash) was altered.
        "population_hash_matches": not altered
        and population_hash(items=items) == cycle.population_hash
        and (not signed or cycle.signed_population_hash == cycle.population_hash),
        "population_hash_method": POPULATION_HASH_METHOD,
        "evidence_hashes_match": not altered,
        "items_with_altered_evidence": altered,
        "evidence_hash_method": EVIDENCE_HASH_METHOD,
        "sign_off_summary": summary_check,
        "item_count": len(items),
        "decision_count": len(decisions_by_id),
        "generated_at": timezone.now().isoformat(),
        "generator": GENERATOR,
        "files": {
            name: {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
            for name, content in files.items()
        },
    }
    return EvidencePack(files=files, manifest=manifest)


def zip_bytes(*, pack: EvidencePack) -> bytes:
    stamp = timezone.localtime(datetime.fromisoformat(pack.manifest["generated_at"]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in [*pack.files.items(), ("manifest.json", pack.manifest_bytes)]:
            info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def pack_filename(*, cycle: ReviewCycle) -> str:
    return f"iamreview-cycle-{cycle.pk}-evidence.zip"


# --- Recording an export (verify_pack looks it up) -----------------------------------------


def record_export(*, pack: EvidencePack, cycle: ReviewCycle, actor: User | None) -> str:
    """Record the pack in the audit trail (append-only, hash-chained): the SHA-256 of its
    manifest, which holds every file's own. Returns that hash. A pack whose files or manifest
    were edited afterwards no longer matches any recorded export (verify_pack)."""
    from findings.audit.services import record

    digest = hashlib.sha256(pack.manifest_bytes).hexdigest()
    record(
        actor=actor,
        action=EXPORTED,
        target_type="review_cycle",
        target_id=cycle.pk,
        target_label=cycle.title,
        after={"manifest_sha256": digest, "generated_at": pack.manifest["generated_at"]},
    )
    return digest
