# ruff: noqa: F811 - the fixtures come from test_evidence_pack.py
"""What an evidence pack proves: the summary the approver signed, frozen evidence that still
hashes to its recorded hash, and decisions and sign-offs the database refuses to rewrite."""

import hashlib
import io
import json
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import LinkedIdentity, User
from findings.models import Decision, Finding, ReviewCycle, ReviewItem
from findings.reviews.evidence_pack import build_evidence_pack, record_export, zip_bytes
from findings.reviews.pack_verify import verify_pack
from findings.reviews.services import sign_off_cycle, verify_remediations
from findings.reviews.substance import substance_hash
from findings.reviews.summary import sign_off_summary, summary_digest
from tests.findings.api.test_api import release_cycle
from tests.findings.reviews.test_evidence_pack import (  # noqa: F401 - fixtures
    account,
    decide,
    signed_cycle,
    signed_release_cycle,
    tamper,
)

pytestmark = pytest.mark.django_db


def summary_of(pack) -> dict:
    return json.loads(pack.files["sign_off_summary.json"])


def download(client, auditor, cycle) -> bytes:
    """The pack as an auditor downloads it: its export recorded in the audit trail."""
    client.force_login(auditor)
    response = client.get(f"/review/cycles/{cycle.pk}/evidence.zip")
    assert response.status_code == 200
    return response.content


def verify_command(tmp_path, data: bytes) -> str:
    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    out = io.StringIO()
    call_command("verify_evidence_pack", str(path), stdout=out)
    return out.getvalue()


# --- A: the summary in the pack is the one the approver signed --------------------------------


def test_sign_off_stores_the_summary_document_the_approver_signed(signed_cycle):
    """Only its hash was kept: what the approver read could not be shown again."""
    stored = signed_cycle.signed_summary
    assert stored["digest"] == signed_cycle.signed_summary_hash
    assert summary_digest(document=stored) == signed_cycle.signed_summary_hash
    assert [line["title"] for line in stored["remediations_pending"]] == [
        signed_cycle.items.order_by("id").first().title
    ]
    signed_cycle.refresh_from_db()
    assert signed_cycle.signed_summary == stored


def test_a_remediation_verified_after_sign_off_leaves_the_signed_summary_in_the_pack(
    signed_cycle, account
):
    """The pack recomputed the summary at download: a remediation verified after sign-off left
    the list of pending remediations, so the pack's summary no longer hashed to the signed hash
    while cycle.json said it did."""
    Finding.objects.filter(account=account).update(
        status=Finding.Status.RESOLVED, resolved_at=timezone.now()
    )
    assert verify_remediations(account=account) == 1

    pack = build_evidence_pack(cycle=signed_cycle)

    summary = summary_of(pack)
    assert summary == signed_cycle.signed_summary
    assert len(summary["remediations_pending"]) == 1  # as signed
    assert summary["digest"] == signed_cycle.signed_summary_hash
    assert summary_digest(document=summary) == signed_cycle.signed_summary_hash
    assert pack.manifest["sign_off_summary"]["status"] == "signed"
    assert pack.manifest["sign_off_summary"]["digest_matches_signed_hash"] is True


def test_a_decider_renamed_or_newly_linked_after_sign_off_leaves_the_signed_summary(
    signed_cycle, reviewer, second_reviewer
):
    """A decider who renamed themselves changed the deciders' names, and an identity linked
    after sign-off a conflict of interest, in a summary the pack said had been signed."""
    User.objects.filter(pk=second_reviewer.pk).update(full_name="Someone Else")
    third = signed_cycle.items.order_by("id")[2]
    LinkedIdentity.objects.create(user=reviewer, arn=third.subject_arn)
    assert sign_off_summary(cycle=signed_cycle).digest != signed_cycle.signed_summary_hash

    pack = build_evidence_pack(cycle=signed_cycle)

    summary = summary_of(pack)
    assert "Someone Else" not in json.dumps(summary)
    assert summary["conflicts_of_interest"] == []
    assert summary_digest(document=summary) == signed_cycle.signed_summary_hash
    assert pack.manifest["sign_off_summary"]["digest_matches_signed_hash"] is True


def test_an_open_cycles_pack_says_its_summary_is_signed_by_nobody(account, reviewer):
    """The pack's summary of an open cycle looked like any other."""
    cycle = release_cycle(account, reviewer)
    pack = build_evidence_pack(cycle=cycle)
    described = pack.manifest["sign_off_summary"]
    assert described["status"] == "not_signed"
    assert described["signed_summary_hash"] is None
    assert described["digest_matches_signed_hash"] is None
    assert "not signed off" in described["note"]
    assert described["digest"] == summary_of(pack)["digest"]


def _signed_before_the_summary_was_stored(cycle, approver) -> ReviewCycle:
    """Signed off as iamreview did before it stored the summary: its hash only."""
    ReviewCycle.objects.filter(pk=cycle.pk).update(
        state=ReviewCycle.State.SIGNED_OFF,
        signed_off_by=approver,
        signed_off_at=timezone.now(),
        attestation="Reviewed in full.",
        signed_population_hash=cycle.population_hash,
        signed_summary_hash=sign_off_summary(cycle=cycle).digest,
    )
    return ReviewCycle.objects.get(pk=cycle.pk)


def test_a_cycle_signed_before_the_summary_was_stored_says_so_and_fails_verification(
    client, account, reviewer, second_reviewer, approver, auditor, tmp_path
):
    """Such a pack recomputed the summary, claimed it equal to the signed one and verified
    as intact, although a decider had renamed themselves since."""
    cycle = release_cycle(account, reviewer, roles=1)
    decide(cycle.items.get(), second_reviewer, "keep", "used by the checkout service")
    cycle = _signed_before_the_summary_was_stored(cycle, approver)
    described = build_evidence_pack(cycle=cycle).manifest["sign_off_summary"]
    assert described["status"] == "recomputed_signed_before_stored"
    assert described["digest_matches_signed_hash"] is True  # nothing changed yet
    assert verify_command(tmp_path, download(client, auditor, cycle)).startswith("intact")

    User.objects.filter(pk=second_reviewer.pk).update(full_name="Someone Else")
    pack = build_evidence_pack(cycle=cycle)
    described = pack.manifest["sign_off_summary"]
    assert described["status"] == "recomputed_signed_before_stored"
    assert described["digest_matches_signed_hash"] is False
    assert "before" in described["note"] and "not the document" in described["note"]

    check = verify_pack(data=download(client, auditor, cycle))
    assert not check.intact
    assert any("sign_off_summary.json" in p and "signed" in p for p in check.problems)
    with pytest.raises(CommandError, match="sign_off_summary.json"):
        verify_command(tmp_path, download(client, auditor, cycle))


def test_verification_recomputes_the_summary_digest_from_the_pack(signed_cycle, auditor):
    """The verify command only compared files with the manifest: a summary exported unlike
    the one signed (its own "digest" field left as signed) passed as intact."""
    pack = build_evidence_pack(cycle=signed_cycle)
    summary = summary_of(pack)
    summary["remediations_pending"] = []
    pack.files["sign_off_summary.json"] = json.dumps(summary).encode()
    pack.manifest["files"]["sign_off_summary.json"]["sha256"] = hashlib.sha256(
        pack.files["sign_off_summary.json"]
    ).hexdigest()
    record_export(pack=pack, cycle=signed_cycle, actor=auditor)

    problems = verify_pack(data=zip_bytes(pack=pack)).problems
    assert problems == [
        "sign_off_summary.json: its digest differs from the signed summary hash in cycle.json"
    ]


# --- B: item hashes are recomputed from the frozen evidence -----------------------------------


def test_frozen_evidence_edited_in_the_database_shows_in_the_manifest_and_fails_verification(
    client, signed_cycle, auditor, tmp_path
):
    """Only the stored evidence hashes were re-hashed: evidence edited with SQL, its hash
    left alone, gave population_hash_matches true and an intact verification."""
    item = signed_cycle.items.order_by("id").first()
    evidence = {**item.frozen_evidence, "policies": {"inline: all": {"Action": "*"}}}
    tamper(lambda: ReviewItem.objects.filter(pk=item.pk).update(frozen_evidence=evidence))

    pack = build_evidence_pack(cycle=signed_cycle)
    assert pack.manifest["population_hash_matches"] is False
    assert pack.manifest["evidence_hashes_match"] is False
    assert pack.manifest["items_with_altered_evidence"] == [item.pk]

    problems = verify_pack(data=download(client, auditor, signed_cycle)).problems
    assert problems == [
        f"item {item.pk}: its frozen evidence does not hash to its recorded evidence_hash",
        "cycle.json: the population hash recomputed from the frozen evidence differs from "
        "population_hash",
    ]
    with pytest.raises(CommandError, match=f"item {item.pk}"):
        verify_command(tmp_path, download(client, auditor, signed_cycle))


def test_a_last_used_date_edited_in_frozen_evidence_is_still_caught(signed_cycle):
    """The change mark leaves out the dates mere use moves (reviews/substance.py); the
    integrity hash does not: what the reviewers saw, their last-used dates too, is what the
    pack proves."""
    item = signed_cycle.items.order_by("id").first()
    assert "last_used" in item.frozen_evidence["facts"]
    facts = {**item.frozen_evidence["facts"], "last_used": "2020-01-01T00:00:00+00:00"}
    evidence = {**item.frozen_evidence, "facts": facts}
    assert substance_hash(evidence=evidence) == substance_hash(evidence=item.frozen_evidence)
    tamper(lambda: ReviewItem.objects.filter(pk=item.pk).update(frozen_evidence=evidence))

    pack = build_evidence_pack(cycle=signed_cycle)
    assert pack.manifest["population_hash_matches"] is False
    assert pack.manifest["items_with_altered_evidence"] == [item.pk]


def test_an_intact_pack_says_every_item_hash_matches(signed_cycle):
    """The manifest said nothing of the item hashes: "matches" covered their stored values."""
    manifest = build_evidence_pack(cycle=signed_cycle).manifest
    assert manifest["population_hash_matches"] is True
    assert manifest["evidence_hashes_match"] is True
    assert manifest["items_with_altered_evidence"] == []
    assert manifest["generator"]["format"] == 4


def _offline_evidence_hash(evidence: dict) -> str:
    """The method VERIFY.txt and the manifest describe, written without the app."""
    facts = {k: v for k, v in (evidence.get("facts") or {}).items() if k != "analyzed_at"}
    comparable = {
        "facts": facts,
        "unused_services": sorted(s["service"] for s in evidence.get("unused_services", [])),
        "findings": sorted(
            [f["check"], f["resource_key"], f["severity"]] for f in evidence.get("findings", [])
        ),
        "policies": evidence.get("policies"),
    }
    text = json.dumps(comparable, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def test_an_auditor_recomputes_every_hash_offline_as_verify_txt_says(signed_cycle):
    """The manifest named the population hash's method only, and the item hashes it is built
    from could not be recomputed without the app's code."""
    archive = zipfile.ZipFile(io.BytesIO(zip_bytes(pack=build_evidence_pack(cycle=signed_cycle))))
    manifest = json.loads(archive.read("manifest.json"))
    instructions = archive.read("VERIFY.txt").decode()
    assert "VERIFY.txt" in manifest["files"]
    for words in ("population hash", "evidence_hash", "analyzed_at", "sign_off_summary.json"):
        assert words in instructions
    assert "analyzed_at" in manifest["evidence_hash_method"]

    items = json.loads(archive.read("cycle.json"))["items"]
    hashes = {i["subject_key"]: _offline_evidence_hash(i["frozen_evidence"]) for i in items}
    assert hashes == {item["subject_key"]: item["evidence_hash"] for item in items}
    lines = sorted(f"{key}:{value}" for key, value in hashes.items())
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == manifest["population_hash"]


# --- C: the database refuses to rewrite decisions and signed-off cycles -----------------------


def refused(sql: str, params) -> str:
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as c:
        c.execute(sql, params)
    return str(raised.value)


def test_the_database_refuses_to_change_or_delete_a_decision(postgres, signed_cycle):
    """Decisions were append-only by convention: a justification rewritten with SQL after
    sign-off went unnoticed."""
    decision = Decision.objects.filter(item__cycle=signed_cycle).order_by("id").last()
    message = refused(
        "UPDATE findings_decision SET justification = %s WHERE id = %s", ["edited", decision.pk]
    )
    assert "append-only" in message
    for column, value in [("kind", "keep"), ("decided_at", timezone.now()), ("bulk", True)]:
        refused(f"UPDATE findings_decision SET {column} = %s WHERE id = %s", [value, decision.pk])
    assert "append-only" in refused("DELETE FROM findings_decision WHERE id = %s", [decision.pk])
    decision.refresh_from_db()
    assert decision.justification == "-1+1 until the migration"


def test_the_expiry_follow_up_still_marks_a_decision_handled(postgres, signed_cycle):
    """The one column the application writes after a decision is made."""
    decision = Decision.objects.filter(item__cycle=signed_cycle, kind="accept_risk").get()
    Decision.objects.filter(pk=decision.pk).update(expiry_handled_at=timezone.now())
    decision.refresh_from_db()
    assert decision.expiry_handled_at is not None


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("signed_summary_hash", "0" * 64),
        ("signed_population_hash", "0" * 64),
        ("signed_summary", "{}"),
        ("attestation", "Nothing reviewed."),
        ("signed_off_at", None),
        ("state", "open"),
        ("population_hash", "0" * 64),
    ],
)
def test_the_database_refuses_to_change_a_signed_off_cycle(postgres, signed_cycle, column, value):
    """A signed-off cycle's signature could be rewritten with SQL."""
    message = refused(
        f"UPDATE findings_reviewcycle SET {column} = %s WHERE id = %s", [value, signed_cycle.pk]
    )
    assert "signed off" in message


def test_the_database_refuses_to_delete_a_signed_off_cycle(postgres, signed_cycle):
    """A signed-off cycle could be deleted with SQL (its decisions first, nothing refused)."""
    message = refused("DELETE FROM findings_reviewcycle WHERE id = %s", [signed_cycle.pk])
    assert "signed off" in message


def test_an_open_cycle_still_changes_and_is_signed_off(postgres, account, reviewer, approver):
    """The guards of signed-off cycles must not stop what the application does before."""
    cycle = release_cycle(account, reviewer, roles=1)
    ReviewCycle.objects.filter(pk=cycle.pk).update(title="Release checkout 1.4.0 (hotfix)")
    decide(cycle.items.get(), reviewer, "keep", "used by the checkout service")
    signed = sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation="Reviewed in full.",
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )
    assert signed.state == "signed_off" and signed.signed_summary["total"] == 1
    empty = release_cycle(account, reviewer, roles=1, name="billing")
    empty.delete()  # open and undecided: nothing to protect yet
