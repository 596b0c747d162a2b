"""The evidence pack of a review cycle: what an auditor takes away and can verify on their own.

items.csv and decisions.csv for spreadsheets, cycle.json with every item's frozen evidence, and
manifest.json with each file's SHA-256. The population hash can be recomputed from cycle.json
(see POPULATION_HASH_METHOD). A fixed number of queries whatever the size of the cycle.
"""

import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone

from accounts.models import User
from findings.detection.selectors import finding_record, with_evidence_seen_at
from findings.export.tables import csv_text
from findings.models import Decision, Finding, ReviewCycle, ReviewItem
from findings.reviews.evidence import population_hash
from findings.reviews.summary import sign_off_summary

FORMAT_VERSION = 1
GENERATOR = {
    "name": "iamreview",
    "module": "findings.reviews.evidence_pack",
    "format": FORMAT_VERSION,
}
POPULATION_HASH_METHOD = (
    "SHA-256 of the UTF-8 lines '<subject_key>:<evidence_hash>' of every item, sorted and "
    "joined with '\\n'"
)
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
    }


def _cycle_document(cycle: ReviewCycle, items: list[ReviewItem]) -> dict:
    signed = cycle.state == ReviewCycle.State.SIGNED_OFF
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
            "scope_accounts": [
                {"account_id": a.account_id, "name": a.name} for a in cycle.scope_accounts.all()
            ],
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
                # The hash of sign_off_summary.json as the approver read it when signing.
                "signed_summary_hash": cycle.signed_summary_hash,
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
                "follows_item": item.follows_item_id,
                "findings": [finding_record(finding=f) for f in item.findings.all()],
                "decisions": [
                    {**_decision_row(d, item), "remediation_plan": d.remediation_plan}
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


def build_evidence_pack(*, cycle: ReviewCycle) -> EvidencePack:
    cycle, items = _load_cycle(cycle)
    decisions_by_id = {d.pk: d for item in items for d in item.decisions.all()}
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
        # decided what; its "digest" equals sign_off.signed_summary_hash once signed.
        "sign_off_summary.json": _canonical_json(asdict(sign_off_summary(cycle=cycle))),
    }
    manifest = {
        "cycle_id": cycle.pk,
        "cycle_state": cycle.state,
        "population_hash": cycle.population_hash,
        "population_count": cycle.population_count,
        # Recomputed from the items in this pack: false means the frozen population was altered.
        "population_hash_matches": population_hash(items=items) == cycle.population_hash,
        "population_hash_method": POPULATION_HASH_METHOD,
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


# --- Verifying a pack later --------------------------------------------------------------------

EXPORTED = "evidence_pack.exported"


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


@dataclass
class PackCheck:
    problems: list[str]
    manifest_sha256: str = ""
    cycle_id: int | None = None
    exported_at: datetime | None = None
    exported_by: str = ""

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_pack(*, data: bytes) -> PackCheck:
    """Check a downloaded pack: every file against the manifest, and the manifest against the
    export recorded in the audit trail. Never raises on a bad file: its problems are listed."""
    from findings.models import AuditEntry

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        if len(names) != len(set(names)):
            # One name twice: a viewer may show the first entry, read() returns the last.
            return PackCheck(problems=["the pack holds two files of the same name"])
        contents = {name: archive.read(name) for name in names}
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as exc:
        return PackCheck(problems=[f"not a readable zip file: {exc}"])
    if "manifest.json" not in contents:
        return PackCheck(problems=["no manifest.json in the pack"])
    raw = contents.pop("manifest.json")
    try:
        manifest = json.loads(raw)
        listed = {
            str(name): entry["sha256"]
            for name, entry in manifest["files"].items()
            if isinstance(entry["sha256"], str)
        }
        check = PackCheck(
            problems=[],
            manifest_sha256=hashlib.sha256(raw).hexdigest(),
            cycle_id=int(manifest["cycle_id"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return PackCheck(problems=[f"manifest.json is not a manifest of this tool: {exc!r}"])
    for name in sorted(set(listed) | set(contents)):
        if name not in contents:
            check.problems.append(f"{name}: listed in the manifest, missing from the pack")
        elif name not in listed:
            check.problems.append(f"{name}: in the pack, not in the manifest")
        elif hashlib.sha256(contents[name]).hexdigest() != listed[name]:
            check.problems.append(f"{name}: its SHA-256 differs from the manifest's")
    entry = (
        AuditEntry.objects.filter(
            action=EXPORTED,
            target_type="review_cycle",
            target_id=str(check.cycle_id),
            after__manifest_sha256=check.manifest_sha256,
        )
        .order_by("id")
        .first()
    )
    if entry is None:
        check.problems.append(
            "the manifest matches no export recorded in the audit trail: it was edited, or "
            "comes from another installation"
        )
    else:
        check.exported_at, check.exported_by = entry.at, entry.actor_label
    return check
