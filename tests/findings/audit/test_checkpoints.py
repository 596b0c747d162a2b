"""Checkpoints: the chain's head written where the database cannot rewrite it, so a deleted
tail or a truncated table is found, and named, even though what is left chains correctly."""

import io
import json
import stat
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.core import mail
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from moto import mock_aws

from findings.audit.checkpoints import read_checkpoints, write_checkpoint
from findings.audit.services import record
from findings.audit.tasks import write_audit_checkpoint
from findings.audit.verify import verify_chain
from findings.models import AuditCheckpoint, AuditEntry
from tests.findings.history import analyze, reads

pytestmark = pytest.mark.django_db


def some_entries(count: int) -> list[AuditEntry]:
    return [
        record(actor=None, action="test.recorded", target_type="thing", target_id=n)
        for n in range(count)
    ]


def without_triggers(sql: str, params: list | None = None) -> None:
    """What a database administrator could do: bypass the triggers for one statement."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params or [])
        cursor.execute("SET LOCAL session_replication_role = origin")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def verify_output() -> str:
    out = io.StringIO()
    call_command("verify_audit_log", stdout=out)
    return out.getvalue()


def test_a_checkpoint_is_a_new_read_only_file_and_only_when_the_head_moved(settings):
    entries = some_entries(3)

    checkpoint = write_checkpoint(now=timezone.now())

    path = Path(checkpoint.location)
    assert path.parent == Path(settings.AUDIT_CHECKPOINT_DIR)
    written = json.loads(path.read_text())
    assert written["entry_id"] == entries[-1].pk
    assert written["entry_hash"] == entries[-1].entry_hash
    assert written["entries"] == 3
    assert written["mac"]  # signed with AUDIT_LOG_KEY
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert write_audit_checkpoint() == "unchanged"
    some_entries(1)
    assert write_audit_checkpoint() != "unchanged"
    assert len(read_checkpoints()) == AuditCheckpoint.objects.count() == 2
    assert verify_output().startswith("intact (4 entries, 2 checkpoints in ")


def test_an_empty_log_writes_no_checkpoint():
    assert write_checkpoint(now=timezone.now()) is None


def test_a_deleted_tail_is_reported_with_the_first_missing_entry(postgres):
    entries = some_entries(5)
    write_checkpoint(now=timezone.now())

    without_triggers("DELETE FROM findings_auditentry WHERE id >= %s", [entries[3].pk])

    result = verify_chain()
    assert not result.intact
    assert result.broken_entry_id == entries[4].pk  # the newest entry a checkpoint names
    assert f"the log ends at entry {entries[2].pk}" in result.problem
    assert "the newest entries were deleted" in result.problem
    with pytest.raises(CommandError, match=f"broken at entry {entries[4].pk}: is missing"):
        verify_output()


def test_a_truncated_log_is_reported(postgres):
    entries = some_entries(2)
    write_checkpoint(now=timezone.now())

    without_triggers("TRUNCATE findings_auditentry")

    result = verify_chain()
    assert (result.intact, result.broken_entry_id) == (False, entries[1].pk)
    assert "the log is empty" in result.problem and "truncated" in result.problem
    with pytest.raises(CommandError, match="the table was truncated"):
        verify_output()


def test_a_removed_entry_under_a_checkpoint_is_reported_even_if_the_chain_was_relinked(
    postgres,
):
    entries = some_entries(4)
    write_checkpoint(now=timezone.now())

    without_triggers("DELETE FROM findings_auditentry WHERE id = %s", [entries[1].pk])

    result = verify_chain()
    assert (result.intact, result.broken_entry_id) == (False, entries[2].pk)
    assert "does not link" in result.problem


def test_a_checkpoint_not_signed_with_the_key_is_refused(settings):
    some_entries(2)
    checkpoint = write_checkpoint(now=timezone.now())
    path = Path(checkpoint.location)
    forged = {**json.loads(path.read_text()), "entries": 1}
    path.chmod(0o644)
    path.write_text(json.dumps(forged))

    result = verify_chain()
    assert not result.intact
    assert "is not signed with AUDIT_LOG_KEY" in result.problem


def test_checkpoints_can_go_to_an_s3_bucket_under_object_lock(settings):
    settings.AUDIT_CHECKPOINT_S3_BUCKET = "audit-checkpoints-bucket"
    settings.AUDIT_CHECKPOINT_S3_PREFIX = "prod/"
    settings.AUDIT_CHECKPOINT_RETENTION_DAYS = 30
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="audit-checkpoints-bucket", ObjectLockEnabledForBucket=True)
        entries = some_entries(2)

        checkpoint = write_checkpoint(now=timezone.now())

        assert checkpoint.location.startswith("s3://audit-checkpoints-bucket/prod/checkpoint-")
        key = checkpoint.location.removeprefix("s3://audit-checkpoints-bucket/")
        head = s3.head_object(Bucket="audit-checkpoints-bucket", Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] > timezone.now() + timedelta(days=29)
        version = s3.list_object_versions(Bucket="audit-checkpoints-bucket")["Versions"][0]
        with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
            s3.delete_object(
                Bucket="audit-checkpoints-bucket", Key=key, VersionId=version["VersionId"]
            )
        [read] = read_checkpoints()
        assert (read.entry_id, read.entry_hash) == (entries[-1].pk, entries[-1].entry_hash)
        assert verify_chain().intact


def test_without_a_key_the_system_check_warns(settings):
    settings.AUDIT_LOG_KEY = ""
    assert "iamreview.W001" in [
        message.id for message in run_checks(include_deployment_checks=True)
    ]
    settings.AUDIT_LOG_KEY = "a-key"
    assert "iamreview.W001" not in [
        message.id for message in run_checks(include_deployment_checks=True)
    ]


def test_entries_written_before_the_key_was_set_are_accepted_as_a_prefix(settings):
    settings.AUDIT_LOG_KEY = ""
    some_entries(2)
    settings.AUDIT_LOG_KEY = "the-new-key"
    some_entries(2)

    result = verify_chain()
    assert result.intact and result.unkeyed == 2
    assert "the first 2 entries are not keyed (written without AUDIT_LOG_KEY)" in verify_output()


def test_auditors_get_the_latest_checkpoints_in_their_digest(auditor):
    from findings.notifications.digests import send_due_digests

    some_entries(2)
    checkpoint = write_checkpoint(now=timezone.now())

    send_due_digests(now=timezone.now() + timedelta(minutes=1), force=True)

    [message] = [m for m in mail.outbox if auditor.email in m.to]
    assert f"entry {checkpoint.entry_id}" in message.body
    assert checkpoint.entry_hash in message.body


def test_the_audit_page_says_the_log_agrees_with_its_checkpoints_or_names_the_cut(
    client, auditor, postgres
):
    entries = some_entries(3)
    write_checkpoint(now=timezone.now())
    client.force_login(auditor)

    page = client.get("/review/audit/").content.decode()
    assert "Chain intact" in page and "agrees with all 1 checkpoint written outside" in page

    without_triggers("DELETE FROM findings_auditentry WHERE id = %s", [entries[-1].pk])
    page = client.get("/review/audit/").content.decode()
    assert "Chain broken" in page and f"Entry #{entries[-1].pk} is missing" in page


def test_a_log_rewritten_as_unkeyed_entries_fails_once_a_key_is_set(settings, postgres):
    """Someone without the key rewrote every entry as plain SHA-256 (editing one on the way):
    with no checkpoint readable, the log was "intact, 0 checkpoints"."""
    from findings.audit.services import GENESIS, entry_hash, hashed_fields

    settings.AUDIT_LOG_KEY = "the-key"
    entries = some_entries(3)
    previous = GENESIS
    for entry in entries:
        entry.target_label = "forged"
        rewritten = entry_hash(previous_hash=previous, fields=hashed_fields(entry=entry))
        without_triggers(
            "UPDATE findings_auditentry SET target_label = %s, keyed = false, previous_hash = %s,"
            " entry_hash = %s WHERE id = %s",
            ["forged", previous, rewritten, entry.pk],
        )
        previous = rewritten

    result = verify_chain(checkpoints=[])

    assert not result.intact
    assert "no entry of the log is keyed" in result.problem


def test_checkpoints_the_database_lists_but_the_store_lacks_fail_verification(settings):
    """An unmounted or emptied checkpoint store read as "no checkpoints yet"."""
    some_entries(2)
    write_checkpoint(now=timezone.now())
    for path in Path(settings.AUDIT_CHECKPOINT_DIR).glob("checkpoint-*.json"):
        path.chmod(stat.S_IWUSR | stat.S_IRUSR)
        path.unlink()

    result = verify_chain()

    assert not result.intact
    assert "none of the 1 checkpoints written is where they were written" in result.problem


def add_audit(count: int, *, start: int) -> None:
    now = timezone.now()
    AuditEntry.objects.bulk_create(
        (
            AuditEntry(
                at=now,
                actor_label="system",
                action="decision.recorded",
                target_type="item",
                target_id=str(n),
                previous_hash=f"{n - 1:064d}",
                entry_hash=f"{n:064d}",
            )
            for n in range(start, start + count)
        ),
        batch_size=5000,
    )


def test_the_hourly_checkpoint_counts_only_the_entries_since_the_previous_one():
    """findings.write_audit_checkpoint runs every hour: the previous checkpoint already holds
    the count up to its entry, so only the entries since are counted, not the whole log."""
    add_audit(1_000, start=0)
    write_checkpoint(now=timezone.now())
    add_audit(10, start=1_000)
    analyze(AuditEntry)
    with reads(AuditEntry) as short:
        short_checkpoint = write_checkpoint(now=timezone.now() + timedelta(hours=1))
    add_audit(30_000, start=1_010)
    write_checkpoint(now=timezone.now() + timedelta(hours=2))
    add_audit(10, start=31_010)
    analyze(AuditEntry)
    with reads(AuditEntry) as long:
        long_checkpoint = write_checkpoint(now=timezone.now() + timedelta(hours=3))
    assert (short_checkpoint.entries, long_checkpoint.entries) == (1_010, 31_020)
    assert long.of(AuditEntry) <= 2 * short.of(AuditEntry), (
        f"10 new entries: read {short.of(AuditEntry)} in a log of 1,010, "
        f"{long.of(AuditEntry)} in a log of 31,020"
    )
