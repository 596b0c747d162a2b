"""Verification of the audit log against its key and every checkpoint, naming the first entry
that fails."""

import hmac
from dataclasses import dataclass

from django.conf import settings

from findings.audit.checkpoints import Checkpoint, UnreadableCheckpoint, read_checkpoints
from findings.audit.services import GENESIS, entry_hash, hashed_fields
from findings.aws.errors import AwsError
from findings.models import AuditEntry


@dataclass
class Verification:
    intact: bool
    checked: int
    broken_entry_id: int | None = None
    problem: str = ""
    checkpoints: int = 0
    unkeyed: int = 0


def _checkpoint_problem(checkpoint: Checkpoint, key: str) -> str:
    if key and not hmac.compare_digest(checkpoint.mac, checkpoint.expected_mac(key)):
        return f"checkpoint {checkpoint.location} is not signed with AUDIT_LOG_KEY"
    return ""


def verify_chain(*, checkpoints: list[Checkpoint] | None = None) -> Verification:
    """Walk the chain once: every link, every hash under the key, every checkpoint."""
    key = settings.AUDIT_LOG_KEY
    if checkpoints is None:
        try:
            checkpoints = read_checkpoints()
        except (UnreadableCheckpoint, AwsError, OSError) as exc:
            return Verification(False, 0, None, f"the checkpoints cannot be read: {exc}")
    for checkpoint in checkpoints:
        if problem := _checkpoint_problem(checkpoint, key):
            return Verification(False, 0, checkpoint.entry_id, problem, len(checkpoints))
    by_entry: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_entry.setdefault(checkpoint.entry_id, []).append(checkpoint)

    def broken(entry_id: int | None, problem: str) -> Verification:
        return Verification(False, checked, entry_id, problem, len(checkpoints), unkeyed)

    previous, checked, unkeyed, seen_keyed, last_id = GENESIS, 0, 0, False, None
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=2000):
        if entry.previous_hash != previous:
            return broken(entry.pk, "does not link to the entry before it")
        if entry.keyed and not key:
            return broken(entry.pk, "is keyed, but AUDIT_LOG_KEY is not set here")
        if not entry.keyed:
            if seen_keyed:
                return broken(entry.pk, "is not keyed though entries before it are (forged?)")
            unkeyed += 1
        seen_keyed = seen_keyed or entry.keyed
        expected = entry_hash(
            previous_hash=previous,
            fields=hashed_fields(entry=entry),
            key=key if entry.keyed else "",
        )
        if not hmac.compare_digest(entry.entry_hash, expected):
            return broken(entry.pk, "its content does not match its hash")
        checked += 1
        for checkpoint in by_entry.pop(entry.pk, []):
            if checkpoint.entry_hash != entry.entry_hash:
                return broken(
                    entry.pk,
                    f"differs from checkpoint {checkpoint.location}: the chain was rewritten",
                )
            if checkpoint.entries != checked:
                return broken(
                    entry.pk,
                    f"checkpoint {checkpoint.location} counted {checkpoint.entries} entries up "
                    f"to here, the log has {checked}: entries were removed",
                )
        previous, last_id = entry.entry_hash, entry.pk
    if by_entry:
        missing = min(by_entry)
        checkpoint = by_entry[missing][0]
        if last_id is None:
            problem = (
                f"is missing: the log is empty, but checkpoint {checkpoint.location} names it "
                "(the table was truncated)"
            )
        elif missing > last_id:
            problem = (
                f"is missing: the log ends at entry {last_id}, but checkpoint "
                f"{checkpoint.location} names this later entry (the newest entries were deleted)"
            )
        else:
            problem = f"is missing, though checkpoint {checkpoint.location} names it"
        return broken(missing, problem)
    return Verification(True, checked, None, "", len(checkpoints), unkeyed)
