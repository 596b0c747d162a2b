"""The evidence pack: every item and every decision, files an auditor can verify on their own."""

import csv
import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from findings.models import Decision, ReviewItem
from findings.reviews.evidence import population_hash
from findings.reviews.evidence_pack import build_evidence_pack, zip_bytes
from findings.reviews.services import DecisionInput, decide_item, sign_off_cycle
from findings.reviews.summary import sign_off_summary
from tests.findings.api.test_api import release_cycle
from tests.findings.detection.test_detect import make_account
from tests.findings.reviews.test_services import overdue_item_marked_no_response

FORMULA = '=HYPERLINK("http://x")'


def decide(
    item, actor, kind="keep", justification="needed by the checkout service", **fields
) -> Decision:
    item.refresh_from_db()
    return decide_item(
        item=item,
        actor=actor,
        decision=DecisionInput(kind=kind, justification=justification, **fields),
        expected_latest_id=item.latest_decision_id,
    )


def tamper(update) -> None:
    """What whoever owns the tables could do to a signed-off cycle's items: switch their guard
    off (migration 0031), edit (`update`), switch it on again."""
    guard = "findings_reviewitem {} TRIGGER signed_cycle_items_locked"
    on_postgres = connection.vendor == "postgresql"
    with transaction.atomic(), connection.cursor() as cursor:
        if on_postgres:
            # ALTER TABLE waits for no deferred foreign-key check of this (test) transaction.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE " + guard.format("DISABLE"))
        update()
        if on_postgres:
            cursor.execute("ALTER TABLE " + guard.format("ENABLE"))
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def rows(pack, name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(pack.files[name].decode())))


@pytest.fixture
def account(db):
    return make_account()


@pytest.fixture
def signed_cycle(account, reviewer, second_reviewer, approver):
    return signed_release_cycle(account, reviewer, second_reviewer, approver)


def signed_release_cycle(account, reviewer, second_reviewer, approver):
    """Three roles (one unknown ARN): decided, one re-decided over a delegation, signed off."""
    cycle = release_cycle(
        account, reviewer, roles=3, unknown=["arn:aws:iam::111122223333:role/ghost"]
    )
    first, second, third = cycle.items.order_by("id")
    decide(first, reviewer, "delegate", "you own checkout", delegate_to=second_reviewer)
    decide(first, second_reviewer, "remediate", "drop s3:* from the worker")
    decide(second, reviewer, "keep", FORMULA)
    expiry = timezone.localdate() + timedelta(days=90)
    decide(third, reviewer, "accept_risk", "-1+1 until the migration", expires_on=expiry)
    return sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation="Reviewed in full.",
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )


@pytest.mark.django_db
def test_every_item_and_every_decision_is_in_the_pack(signed_cycle):
    pack = build_evidence_pack(cycle=signed_cycle)
    items = list(signed_cycle.items.order_by("id"))
    decisions = list(Decision.objects.filter(item__cycle=signed_cycle).order_by("id"))

    assert [int(r["item_id"]) for r in rows(pack, "items.csv")] == [i.pk for i in items]
    history = rows(pack, "decisions.csv")
    assert [int(r["decision_id"]) for r in history] == [d.pk for d in decisions]
    delegation, remediation = history[0], history[1]
    assert delegation["kind"] == "delegate"
    assert delegation["delegate_to"] == "sam.reviewer@example.com"
    assert remediation["supersedes"] == delegation["decision_id"]
    assert remediation["decided_by"] == "sam.reviewer@example.com"
    assert {r["bulk"] for r in history} == {"False"}

    by_item = {int(r["item_id"]): r for r in rows(pack, "items.csv")}
    assert by_item[items[0].pk]["decision"] == "remediate"
    assert by_item[items[0].pk]["remediation"] == "pending"
    assert by_item[items[2].pk]["expires_on"] == str(timezone.localdate() + timedelta(days=90))
    assert by_item[items[0].pk]["evidence_hash"] == items[0].evidence_hash
    assert by_item[items[0].pk]["severity"] == "high"


@pytest.mark.django_db
def test_cycle_json_holds_the_sign_off_the_frozen_evidence_and_the_unknown_roles(
    signed_cycle, approver
):
    document = json.loads(build_evidence_pack(cycle=signed_cycle).files["cycle.json"])
    cycle = document["cycle"]
    assert cycle["state"] == "signed_off"
    assert cycle["sign_off"]["approver"] == approver.email
    assert cycle["sign_off"]["attestation"] == "Reviewed in full."
    assert cycle["sign_off"]["signed_population_hash"] == signed_cycle.population_hash
    assert cycle["population_count"] == 3
    assert cycle["scope_accounts"] == [{"account_id": "111122223333", "name": "Production"}]
    assert cycle["unknown_role_arns"] == ["arn:aws:iam::111122223333:role/ghost"]
    assert cycle["application"] == "checkout" and cycle["version"] == "1.4.0"

    first = document["items"][0]
    stored = ReviewItem.objects.get(pk=first["id"])
    assert first["frozen_evidence"] == json.loads(json.dumps(stored.frozen_evidence))
    assert [f["check"] for f in first["findings"]] == ["role_unused"]
    assert [d["kind"] for d in first["decisions"]] == ["delegate", "remediate"]
    # JSON is not a spreadsheet: the text stays exactly as written.
    assert document["items"][1]["decisions"][0]["justification"] == FORMULA


@pytest.mark.django_db
def test_an_open_cycle_has_no_sign_off_yet(account, reviewer):
    cycle = release_cycle(account, reviewer)
    pack = build_evidence_pack(cycle=cycle)
    assert json.loads(pack.files["cycle.json"])["cycle"]["sign_off"] is None
    assert pack.files["decisions.csv"].decode().count("\n") == 1  # the header only
    assert all(row["decision"] == "" for row in rows(pack, "items.csv"))


@pytest.mark.django_db
def test_the_manifest_lists_each_files_sha256_and_size(signed_cycle):
    pack = build_evidence_pack(cycle=signed_cycle)
    assert set(pack.manifest["files"]) == {
        "items.csv",
        "decisions.csv",
        "cycle.json",
        "sign_off_summary.json",
        "VERIFY.txt",
    }
    for name, content in pack.files.items():
        assert pack.manifest["files"][name] == {
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
        }
    assert pack.manifest["cycle_id"] == signed_cycle.pk
    assert pack.manifest["population_hash"] == signed_cycle.population_hash
    assert pack.manifest["generator"]["name"] == "iamreview"
    assert pack.manifest["generated_at"]
    assert pack.manifest["item_count"] == 3 and pack.manifest["decision_count"] == 4


@pytest.mark.django_db
def test_an_auditor_can_recompute_the_population_hash_from_cycle_json(signed_cycle):
    pack = build_evidence_pack(cycle=signed_cycle)
    items = json.loads(pack.files["cycle.json"])["items"]
    lines = sorted(f"{item['subject_key']}:{item['evidence_hash']}" for item in items)
    recomputed = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert recomputed == pack.manifest["population_hash"]
    assert pack.manifest["population_hash_matches"] is True


@pytest.mark.django_db
def test_an_altered_frozen_population_shows_in_the_manifest(signed_cycle):
    tamper(lambda: ReviewItem.objects.filter(cycle=signed_cycle).update(evidence_hash="0" * 64))
    pack = build_evidence_pack(cycle=signed_cycle)
    assert pack.manifest["population_hash_matches"] is False
    items = signed_cycle.items.only("subject_key", "evidence_hash")
    assert population_hash(items=items) != pack.manifest["population_hash"]


@pytest.mark.django_db
def test_csv_cells_cannot_run_as_spreadsheet_formulas(signed_cycle):
    pack = build_evidence_pack(cycle=signed_cycle)
    justifications = {r["justification"] for r in rows(pack, "decisions.csv")}
    assert "'" + FORMULA in justifications
    assert "'-1+1 until the migration" in justifications
    assert FORMULA not in justifications
    assert "'" + FORMULA in {r["justification"] for r in rows(pack, "items.csv")}
    for name in ("items.csv", "decisions.csv"):
        for row in rows(pack, name):
            for value in row.values():
                assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)


@pytest.mark.django_db
def test_the_zip_holds_the_same_files_and_the_manifest(signed_cycle):
    pack = build_evidence_pack(cycle=signed_cycle)
    with zipfile.ZipFile(io.BytesIO(zip_bytes(pack=pack))) as archive:
        assert archive.testzip() is None
        contents = {name: archive.read(name) for name in archive.namelist()}
    assert set(contents) == {
        "items.csv",
        "decisions.csv",
        "cycle.json",
        "sign_off_summary.json",
        "VERIFY.txt",
        "manifest.json",
    }
    for name, content in pack.files.items():
        assert contents[name] == content
    manifest = json.loads(contents["manifest.json"])
    assert manifest == json.loads(json.dumps(pack.manifest))
    for name, entry in manifest["files"].items():
        assert hashlib.sha256(contents[name]).hexdigest() == entry["sha256"]


@pytest.mark.django_db
def test_the_pack_takes_a_fixed_number_of_queries_whatever_the_cycle_size(
    account, reviewer, second_reviewer
):
    def queries_for(cycle) -> int:
        with CaptureQueriesContext(connection) as captured:
            build_evidence_pack(cycle=cycle)
        return len(captured.captured_queries)

    small = release_cycle(account, reviewer, roles=1, name="small")
    large = release_cycle(account, reviewer, roles=20, name="large")
    for item in large.items.all():
        decide(item, reviewer, "delegate", "yours", delegate_to=second_reviewer)
        decide(item, second_reviewer, "keep", "in use by the checkout service")
    assert queries_for(small) == queries_for(large) <= 8  # 5, and 3 for the sign-off summary


def _rezipped(data: bytes, **replaced: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in source.namelist():
            archive.writestr(name, replaced.get(name, source.read(name)))
    return buffer.getvalue()


@pytest.mark.django_db
def test_a_downloaded_pack_is_checked_against_the_export_the_audit_trail_recorded(
    client, signed_cycle, auditor, tmp_path
):
    """Each download records its manifest's SHA-256 in the hash-chained audit trail: an edited
    file, or an edited manifest recomputed to match it, fails the check."""
    from django.core.management import CommandError, call_command

    from findings.models import AuditEntry
    from findings.reviews.pack_verify import verify_pack

    client.force_login(auditor)
    data = client.get(f"/review/cycles/{signed_cycle.pk}/evidence.zip").content
    entry = AuditEntry.objects.get(action="evidence_pack.exported")
    assert entry.actor == auditor and entry.target_id == str(signed_cycle.pk)

    check = verify_pack(data=data)
    assert check.intact and check.exported_by == auditor.email
    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    out = io.StringIO()
    call_command("verify_evidence_pack", str(path), stdout=out)
    assert out.getvalue().startswith(f"intact: cycle {signed_cycle.pk}")

    archive = zipfile.ZipFile(io.BytesIO(data))
    items = archive.read("items.csv").replace(b"remediate", b"keep", 1)
    edited = _rezipped(data, **{"items.csv": items})
    differs = "items.csv: its SHA-256 differs from the manifest's"
    assert verify_pack(data=edited).problems == [differs]

    manifest = json.loads(archive.read("manifest.json"))
    manifest["files"]["items.csv"]["sha256"] = hashlib.sha256(items).hexdigest()
    forged = _rezipped(data, **{"items.csv": items, "manifest.json": json.dumps(manifest).encode()})
    [problem] = verify_pack(data=forged).problems
    assert problem.startswith("the manifest matches no export recorded in the audit trail")
    path.write_bytes(forged)
    with pytest.raises(CommandError, match="not intact"):
        call_command("verify_evidence_pack", str(path))
    assert verify_pack(data=b"not a zip").problems[0].startswith("not a readable zip file")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "files",
    [["items.csv"], {"items.csv": "0" * 64}, [{"items.csv": 1}], {"items.csv": {"sha256": 5}}],
)
def test_a_manifest_of_another_shape_is_reported_not_raised(files):
    from findings.reviews.pack_verify import verify_pack

    manifest = json.dumps({"cycle_id": 1, "files": files}).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("items.csv", "item_id\n")
        archive.writestr("manifest.json", manifest)
    assert not verify_pack(data=buffer.getvalue()).intact


@pytest.mark.django_db
def test_a_pack_holding_two_files_of_one_name_is_not_intact(client, signed_cycle, auditor):
    """A viewer may show a forged first entry while read() returns the genuine last one."""
    import warnings

    from findings.reviews.pack_verify import verify_pack

    client.force_login(auditor)
    data = client.get(f"/review/cycles/{signed_cycle.pk}/evidence.zip").content
    genuine = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": that is the point
        archive.writestr("items.csv", b"forged")
        for name in genuine.namelist():
            archive.writestr(name, genuine.read(name))
    assert verify_pack(data=buffer.getvalue()).problems == [
        "the pack holds two files of the same name"
    ]


@pytest.mark.django_db
def test_the_evidence_pack_shows_each_decisions_decider_links_and_teams(administrator, reviewer):
    from accounts.models import LinkedIdentity
    from findings.reviews.services import open_cycle
    from tests.findings.reviews import test_evidence as ev

    production = ev.make_account()
    ev.credential_entry(production, "alice", password=True)
    ev.iam_user(production, "rita")  # team payments
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    rita = ev.user_arn(production, "rita")
    LinkedIdentity.objects.create(user=reviewer, arn=rita)
    made = decide(cycle.items.get(), reviewer)
    assert (made.decider_links, made.decider_teams) == ([rita], ["payments"])

    pack = build_evidence_pack(cycle=cycle)

    [decision] = json.loads(pack.files["cycle.json"])["items"][0]["decisions"]
    assert decision["decider_links"] == [rita]
    assert decision["decider_teams"] == ["payments"]
    [row] = rows(pack, "decisions.csv")
    assert row["decider_links"] == rita
    assert json.loads(row["decider_teams"]) == ["payments"]


@pytest.mark.django_db
def test_the_pack_of_a_scheduled_cycle_names_the_accounts_it_covered():
    from datetime import date

    from findings.models import AuditEntry
    from findings.reviews.services import open_period_cycle
    from tests.findings.reviews import test_evidence as ev

    production = ev.make_account()
    staging = ev.make_account("444455556666", "Staging")  # enabled, nobody with a credential
    ev.credential_entry(production, "alice", password=True)

    cycle, _ = open_period_cycle(kind="quarterly", today=date(2026, 10, 1))
    document = json.loads(build_evidence_pack(cycle=cycle).files["cycle.json"])

    # That Staging was reviewed and held nobody (rather than being outside the review) is in
    # the evidence, as the audit trail recorded it when the cycle opened.
    assert document["cycle"]["scope"] == "every_account"
    assert document["cycle"]["scope_accounts"] == [
        {"account_id": production.account_id, "name": "Production"},
        {"account_id": staging.account_id, "name": "Staging"},
    ]
    opened = AuditEntry.objects.get(action="cycle.opened", target_id=str(cycle.pk))
    assert opened.after["accounts"] == [production.account_id, staging.account_id]
    assert opened.after["every_account"] is True


@pytest.mark.django_db
def test_the_pack_says_when_an_item_was_marked_no_response(settings, administrator):
    item = overdue_item_marked_no_response(settings, make_account(), administrator)
    cycle, marked = item.cycle, item.no_response_at.isoformat()

    pack = build_evidence_pack(cycle=cycle)

    assert json.loads(pack.files["cycle.json"])["items"][0]["no_response_at"] == marked
    [row] = rows(pack, "items.csv")
    assert row["no_response_at"] == marked


def test_decider_teams_with_spaces_stay_apart_in_decisions_csv():
    from accounts.models import User
    from findings.models import Decision, ReviewItem
    from findings.reviews.evidence_pack import _decision_row

    item = ReviewItem(pk=1, subject_arn="arn:aws:iam::111122223333:user/alice")
    rita = User(email="rita.reviewer@example.com")

    def cell(teams):
        decision = Decision(pk=1, kind="keep", decided_by=rita, decider_teams=teams)
        return _decision_row(decision, item)["decider_teams"]

    assert json.loads(cell(["Data Platform", "Security"])) == ["Data Platform", "Security"]
    assert json.loads(cell(["Data", "Platform Security"])) == ["Data", "Platform Security"]
    assert cell(None) == ""  # decided before teams were recorded
