"""The audit log: every review action is recorded, chained by hash, and cannot be rewritten."""

import io
import json
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from findings.audit.services import GENESIS, record
from findings.audit.verify import verify_chain
from findings.models import AuditEntry
from findings.reviews.services import DecisionInput, decide_item, open_cycle, sign_off_cycle
from findings.reviews.summary import sign_off_summary
from tests.findings.reviews.test_evidence import credential_entry, keep, make_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed_cycle(administrator, reviewer, approver):
    """A quarterly cycle opened, decided (one decision superseded) and signed off."""
    account = make_account()
    credential_entry(account, "alice", password=True)
    credential_entry(account, "bob", key=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    alice, bob = cycle.items.all()
    first = decide_item(item=alice, actor=reviewer, decision=keep(), expected_latest_id=None)
    decide_item(
        item=alice,
        actor=reviewer,
        decision=DecisionInput(
            "accept_risk",
            "Until the vendor fix ships, VEND-12",
            timezone.localdate() + timedelta(9),
        ),
        expected_latest_id=first.pk,
    )
    decide_item(item=bob, actor=reviewer, decision=keep(), expected_latest_id=None)
    return sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation="Reviewed in full.",
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )


def run_verify() -> str:
    out = io.StringIO()
    call_command("verify_audit_log", stdout=out)
    return out.getvalue()


def tamper(sql: str, params: list) -> None:
    """What someone with database access could do: switch the trigger off, edit, switch it on."""
    with connection.cursor() as cursor:
        # ALTER TABLE waits for no deferred foreign-key check of this (test) transaction.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE findings_auditentry DISABLE TRIGGER audit_append_only")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("ALTER TABLE findings_auditentry ENABLE TRIGGER audit_append_only")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def test_opening_deciding_and_signing_off_each_write_an_entry(
    reviewed_cycle, administrator, reviewer, approver
):
    # (Granting the personas their roles and adding the account are audited before these.)
    entries = list(AuditEntry.objects.filter(target_type__in=["review_cycle", "review_item"]))

    assert [e.action for e in entries] == [
        "cycle.opened",
        "decision.recorded",
        "decision.recorded",
        "decision.recorded",
        "cycle.signed_off",
    ]
    opened, first, superseding, _, signed = entries
    assert (opened.actor, opened.target_id) == (administrator, str(reviewed_cycle.pk))
    assert opened.after["items"] == 2
    assert first.actor_label == reviewer.email
    assert first.after["kind"] == "keep"
    assert superseding.before == {"decision_id": first.after["decision_id"]}
    assert superseding.after["kind"] == "accept_risk"
    assert superseding.after["expires_on"] == str(timezone.localdate() + timedelta(9))
    assert signed.actor == approver
    assert signed.after["population_hash"] == reviewed_cycle.population_hash


def test_scheduled_actions_are_recorded_as_the_system(db):
    from findings.reviews.services import open_scheduled_cycles

    open_scheduled_cycles(today=date(2026, 11, 1))  # the month's cycle and the quarter's

    entries = list(AuditEntry.objects.all())
    assert [entry.action for entry in entries] == ["cycle.opened", "cycle.opened"]
    assert {(entry.actor, entry.actor_label) for entry in entries} == {(None, "system")}


def test_the_chain_starts_at_genesis_and_links_every_entry(reviewed_cycle):
    entries = list(AuditEntry.objects.all())

    assert entries[0].previous_hash == GENESIS
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.previous_hash == before.entry_hash
    result = verify_chain()
    assert result.intact
    assert result.checked == len(entries) > 5


def test_a_clean_log_is_reported_intact(reviewed_cycle):
    assert run_verify().startswith(f"intact ({AuditEntry.objects.count()} entries, ")


def test_an_empty_log_is_intact(db):
    assert run_verify().startswith("intact (0 entries, 0 checkpoints in ")


def test_values_that_are_not_json_are_stored_as_they_were_hashed(db):
    record(
        actor=None,
        action="test.recorded",
        target_type="thing",
        target_id=7,
        after={"day": date(2026, 11, 1), "when": timezone.now(), "ids": (1, 2)},
    )

    assert verify_chain().intact


def test_the_database_refuses_to_update_an_audit_entry(reviewed_cycle, postgres):
    entry = AuditEntry.objects.get(action="cycle.opened")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(actor_label="someone else")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entry.after = {"items": 0}
        entry.save()

    entry.refresh_from_db()
    assert entry.after["items"] == 2


def test_the_database_refuses_to_delete_an_audit_entry(reviewed_cycle, postgres):
    count = AuditEntry.objects.count()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(action="cycle.signed_off").delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():  # noqa: SIM117
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM findings_auditentry")

    assert AuditEntry.objects.count() == count


def test_an_edited_entry_is_found_by_its_id(reviewed_cycle, postgres):
    victim = AuditEntry.objects.filter(action="decision.recorded")[1]

    tamper(
        "UPDATE findings_auditentry SET after = jsonb_set(after, '{kind}', '\"keep\"') "
        "WHERE id = %s",
        [victim.pk],
    )

    result = verify_chain()
    assert not result.intact
    assert result.broken_entry_id == victim.pk
    assert "does not match its hash" in result.problem
    assert result.checked == list(AuditEntry.objects.values_list("pk", flat=True)).index(victim.pk)
    with pytest.raises(CommandError, match=f"broken at entry {victim.pk}:"):
        run_verify()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=victim.pk).delete()  # the trigger is back on


def test_a_deleted_entry_breaks_the_link_of_the_next_one(reviewed_cycle, postgres):
    entries = list(AuditEntry.objects.all())

    tamper("DELETE FROM findings_auditentry WHERE id = %s", [entries[2].pk])

    result = verify_chain()
    assert (result.intact, result.broken_entry_id) == (False, entries[3].pk)
    assert "does not link" in result.problem


def test_a_forged_chain_rehashed_without_the_key_is_found_at_the_edited_entry(
    reviewed_cycle, postgres
):
    """Someone with the database but not AUDIT_LOG_KEY edits an entry and recomputes every hash
    after it (as a plain, unkeyed chain): the edited entry is the first that fails."""
    from findings.audit.services import entry_hash, hashed_fields

    entries = list(AuditEntry.objects.all())
    victim = entries[3]
    victim.after = {**victim.after, "kind": "remediate"}
    previous = victim.previous_hash
    for entry in entries[3:]:
        forged = entry_hash(previous_hash=previous, fields=hashed_fields(entry=entry))
        tamper(
            "UPDATE findings_auditentry SET after = %s::jsonb, previous_hash = %s, "
            "entry_hash = %s WHERE id = %s",
            [json.dumps(entry.after), previous, forged, entry.pk],
        )
        previous = forged

    result = verify_chain()
    assert (result.intact, result.broken_entry_id) == (False, victim.pk)
    assert "does not match its hash" in result.problem
    with pytest.raises(CommandError, match=f"broken at entry {victim.pk}:"):
        run_verify()

    # Claiming the forged entries were never keyed does not help either.
    tamper("UPDATE findings_auditentry SET keyed = false WHERE id >= %s", [victim.pk])
    result = verify_chain()
    assert (result.intact, result.broken_entry_id) == (False, victim.pk)
    assert "is not keyed though entries before it are" in result.problem


def test_the_database_refuses_to_truncate_the_audit_log(reviewed_cycle, postgres):
    count = AuditEntry.objects.count()

    # The test runner's own sessions may truncate (to empty tables between tests); not this one.
    for statement in [
        "TRUNCATE findings_auditentry CASCADE",
        "TRUNCATE accounts_user CASCADE",  # reaches the log by cascade
    ]:
        refused = pytest.raises(DatabaseError, match="TRUNCATE is not allowed")
        with refused, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending deferred FK checks
            cursor.execute("SET LOCAL iamreview.test_flush = 'off'")
            cursor.execute(statement)

    assert AuditEntry.objects.count() == count
