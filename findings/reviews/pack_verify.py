"""Checking an evidence pack: what VERIFY.txt tells an auditor to recompute without iamreview,
and verify_pack, which does it on the installation (with the export recorded in the audit trail).

The pack itself is built by findings.reviews.evidence_pack, which ships these texts.
"""

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from findings.models import AuditEntry
from findings.reviews.evidence import evidence_hash, population_hash
from findings.reviews.summary import digest_against

# The audit trail's action for a downloaded pack: verify_pack looks its manifest up there.
EXPORTED = "evidence_pack.exported"
# Which sign-off summary a pack holds (the manifest's "sign_off_summary"."status").
SIGNED = "signed"
SIGNED_BEFORE_STORED = "recomputed_signed_before_stored"
NOT_SIGNED = "not_signed"
POPULATION_HASH_METHOD = (
    "SHA-256 of the UTF-8 lines '<subject_key>:<evidence_hash>' of every item, sorted and "
    "joined with '\\n'"
)
# findings.reviews.evidence.evidence_hash, in words.
EVIDENCE_HASH_METHOD = (
    "SHA-256 of the JSON text (keys sorted, separators ',' and ':' without spaces, non-ASCII "
    "as \\u escapes: Python's json.dumps(value, sort_keys=True, separators=(',', ':'))) of "
    "{'facts': frozen_evidence.facts without 'analyzed_at' ({} when absent), "
    "'unused_services': the sorted 'service' of each frozen_evidence.unused_services, "
    "'findings': the sorted [check, resource_key, severity] of each frozen_evidence.findings, "
    "'policies': frozen_evidence.policies (null when absent)}; the rest of frozen_evidence is "
    "context, outside the hash"
)
# findings.reviews.summary.summary_digest, in words.
SUMMARY_DIGEST_METHOD = (
    "SHA-256 of the JSON text (as for evidence_hash) of {'total', 'counts', 'accepted_risks': "
    "[item_id, expires_on, justification] of each, 'remediations_pending': item_id of each, "
    "'deciders': [name, counts as [label, count] sorted] of each, 'conflicts_of_interest': "
    "[item_id, note] of each, 'no_response' and 'still_open': item_id of each, 'decided', "
    "'not_reviewed', 'changed_since_frozen': [item_id, freshness, changes] of each} of "
    "sign_off_summary.json (cycles signed before 2026-12-01: without 'changed_since_frozen'; "
    "before 2026-11-30: without 'decided' and 'not_reviewed' either)"
)
VERIFY_TEXT = f"""\
How to check this evidence pack without iamreview
==================================================

1. Files. manifest.json lists every other file with its SHA-256 ("files"): compute each file's
   SHA-256 (sha256sum, shasum -a 256, Get-FileHash) and compare. iamreview recorded the SHA-256
   of manifest.json itself in its hash-chained audit trail when the pack was downloaded; on
   the installation, `python manage.py verify_evidence_pack pack.zip` checks that, and 2 to 4.

2. Item hashes. Recompute every item's evidence_hash (cycle.json, "items") from its
   frozen_evidence, as manifest.json's "evidence_hash_method" says and evidence_hash() below
   does: only the facts (without analyzed_at), the unused services, the findings' check,
   resource and severity, and the policies count. It must equal the item's "evidence_hash".
   manifest.json lists the items whose stored hash differed when the pack was built
   ("items_with_altered_evidence").

3. The population hash. The SHA-256 of the lines "<subject_key>:<evidence_hash>" of every item,
   sorted and joined with newlines, from the evidence hashes recomputed in 2. It must equal
   cycle.json's "population_hash" (and, once signed off, "signed_population_hash").

4. The sign-off summary. Once the cycle is signed off, the digest of sign_off_summary.json
   ("digest_method" in manifest.json, summary_digest() below) must equal cycle.json's
   "signed_summary_hash". manifest.json's "sign_off_summary" says which summary the pack holds:
   "{SIGNED}", the document stored at sign-off, as the approver signed it;
   "{SIGNED_BEFORE_STORED}", a cycle signed off before iamreview stored that document:
   recomputed at export, so not necessarily what was signed; "{NOT_SIGNED}", an open cycle's
   summary as of the export, signed by nobody.

In Python (3.9 or later, no other package):

    import hashlib, json

    def sha256_of(value):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def evidence_hash(e):
        facts = {{k: v for k, v in (e.get("facts") or {{}}).items() if k != "analyzed_at"}}
        return sha256_of({{
            "facts": facts,
            "unused_services": sorted(s["service"] for s in e.get("unused_services", [])),
            "findings": sorted([f["check"], f["resource_key"], f["severity"]]
                               for f in e.get("findings", [])),
            "policies": e.get("policies"),
        }})

    # Cycles signed before 2026-12-01: without changed_since_frozen; before 2026-11-30 also
    # without decided and not_reviewed.
    def summary_digest(s):
        return sha256_of({{
            "total": s["total"],
            "counts": s["counts"],
            "accepted_risks": [[r["item_id"], r["expires_on"], r["justification"]]
                               for r in s["accepted_risks"]],
            "remediations_pending": [r["item_id"] for r in s["remediations_pending"]],
            "deciders": [[d["name"], sorted(d["counts"].items())] for d in s["deciders"]],
            "conflicts_of_interest": [[r["item_id"], r["note"]]
                                      for r in s["conflicts_of_interest"]],
            "no_response": [r["item_id"] for r in s["no_response"]],
            "still_open": [r["item_id"] for r in s["still_open"]],
            "decided": s["decided"],
            "not_reviewed": s["not_reviewed"],
            "changed_since_frozen": [[r["item_id"], r["freshness"], r["changes"]]
                                     for r in s["changed_since_frozen"]],
        }})

    items = json.load(open("cycle.json"))["items"]
    for item in items:
        if evidence_hash(item["frozen_evidence"]) != item["evidence_hash"]:
            print("altered:", item["id"])
    lines = sorted(i["subject_key"] + ":" + evidence_hash(i["frozen_evidence"]) for i in items)
    print("population", hashlib.sha256("\\n".join(lines).encode()).hexdigest())
    print("summary", summary_digest(json.load(open("sign_off_summary.json"))))
"""


@dataclass
class PackCheck:
    problems: list[str]
    # Worth knowing, not wrong (e.g. a summary recomputed at export that still matches).
    notes: list[str] = field(default_factory=list)
    manifest_sha256: str = ""
    cycle_id: int | None = None
    exported_at: datetime | None = None
    exported_by: str = ""

    @property
    def intact(self) -> bool:
        return not self.problems


class _Hashed(NamedTuple):
    subject_key: str
    evidence_hash: str


def _content_problems(contents: dict[str, bytes], manifest: dict) -> tuple[list[str], list[str]]:
    """(problems, notes) of what the files say, recomputed as VERIFY.txt describes: every
    item's evidence hash from its frozen evidence, the population hash from those, and the
    summary's digest against the signed one."""
    if "cycle.json" not in contents:
        return ["cycle.json: missing from the pack"], []
    problems, notes = [], []
    try:
        document = json.loads(contents["cycle.json"])
        cycle, items = document["cycle"], document["items"]
        recorded, recomputed = [], []
        for item in items:
            recorded.append(_Hashed(item["subject_key"], item["evidence_hash"]))
            recomputed.append(
                _Hashed(item["subject_key"], evidence_hash(evidence=item["frozen_evidence"]))
            )
            if recomputed[-1] != recorded[-1]:
                problems.append(
                    f"item {item['id']}: its frozen evidence does not hash to its recorded "
                    "evidence_hash"
                )
        expected = cycle["population_hash"]
        if population_hash(items=recorded) != expected:
            problems.append(
                "cycle.json: the items' recorded evidence hashes do not make up population_hash"
            )
        if population_hash(items=recomputed) != expected:
            problems.append(
                "cycle.json: the population hash recomputed from the frozen evidence differs "
                "from population_hash"
            )
        sign_off = cycle["sign_off"]
        if sign_off is None:
            return problems, notes
        if sign_off["signed_population_hash"] != expected:
            problems.append("cycle.json: population_hash differs from signed_population_hash")
        if "sign_off_summary.json" not in contents:
            return [*problems, "sign_off_summary.json: missing from the pack"], notes
        summary = json.loads(contents["sign_off_summary.json"])
        signed_hash = sign_off["signed_summary_hash"]
        recomputed_at_export = (manifest.get("sign_off_summary") or {}).get(
            "status"
        ) == SIGNED_BEFORE_STORED
        if digest_against(document=summary, signed_hash=signed_hash) != signed_hash:
            problems.append(
                "sign_off_summary.json: its digest differs from the signed summary hash in "
                "cycle.json"
                + (
                    " (the cycle was signed off before iamreview stored the signed summary: "
                    "this one was recomputed at export, after something it shows changed)"
                    if recomputed_at_export
                    else ""
                )
            )
        elif recomputed_at_export:
            notes.append(
                "sign_off_summary.json was recomputed at export (the cycle was signed off "
                "before iamreview stored the signed summary); it still hashes to the signed "
                "summary hash"
            )
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        problems.append(f"cycle.json or sign_off_summary.json is not of this tool: {exc!r}")
    return problems, notes


def verify_pack(*, data: bytes) -> PackCheck:
    """Check a downloaded pack: every file against the manifest, the manifest against the
    export recorded in the audit trail, and the hashes the files hold against their content
    (_content_problems). Never raises on a bad file: its problems are listed."""
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
    problems, check.notes = _content_problems(contents, manifest)
    check.problems.extend(problems)
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
