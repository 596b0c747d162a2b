"""Verification of the audit log against its key and every checkpoint, naming the first entry
that fails."""

import hmac
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache

from findings.audit.checkpoints import (
    Checkpoint,
    UnreadableCheckpoint,
    checkpoint_store,
    read_checkpoints,
)
from findings.audit.services import GENESIS, entry_hash, hashed_fields
from findings.aws.errors import AwsError
from findings.models import AuditCheckpoint, AuditEntry


@dataclass(frozen=True)
class ChainState:
    """Where an intact walk ended: enough to go on from there with the entries written since."""

    last_id: int | None
    last_hash: str
    checked: int
    unkeyed: int
    seen_keyed: bool
    checkpoint_locations: frozenset[str]


@dataclass
class Verification:
    intact: bool
    checked: int
    broken_entry_id: int | None = None
    problem: str = ""
    checkpoints: int = 0
    unkeyed: int = 0
    state: ChainState | None = None  # set when intact
    # A page's view: when the whole chain was last walked, and how many entries since.
    walked_at: datetime | None = None
    newly_checked: int = 0
    resumed: bool = False  # only the entries after an earlier intact walk were walked


def _checkpoint_problem(checkpoint: Checkpoint, key: str) -> str:
    if key and not hmac.compare_digest(checkpoint.mac, checkpoint.expected_mac(key)):
        return f"checkpoint {checkpoint.location} is not signed with AUDIT_LOG_KEY"
    return ""


def verify_chain(
    *, checkpoints: list[Checkpoint] | None = None, resume: ChainState | None = None
) -> Verification:
    """Walk the chain once: every link, every hash under the key, every checkpoint.

    With `resume` (the state of an earlier intact walk), only the entries written since are
    walked, from where it ended; a checkpoint new since then that names an entry it had already
    passed makes it a whole walk again.
    """
    key = settings.AUDIT_LOG_KEY
    if checkpoints is None:
        try:
            checkpoints = read_checkpoints()
        except (UnreadableCheckpoint, AwsError, OSError) as exc:
            return Verification(False, 0, None, f"the checkpoints cannot be read: {exc}")
        if not checkpoints and (written := AuditCheckpoint.objects.count()):
            # The store unmounted, emptied or another one configured: without them a log
            # rewritten as unkeyed entries would pass.
            return Verification(
                False,
                0,
                None,
                f"none of the {written} checkpoints written is where they were written "
                f"({checkpoint_store()}): is the store missing, or was it emptied?",
            )
    for checkpoint in checkpoints:
        if problem := _checkpoint_problem(checkpoint, key):
            return Verification(False, 0, checkpoint.entry_id, problem, len(checkpoints))
    if resume is not None and resume.last_id is not None:
        passed = [
            c
            for c in checkpoints
            if c.location not in resume.checkpoint_locations and c.entry_id <= resume.last_id
        ]
        # The entry the last walk ended on must still be there, unchanged: otherwise the end
        # of the log was cut or rewritten, which only a whole walk can say precisely.
        anchor = AuditEntry.objects.filter(pk=resume.last_id).values_list("entry_hash", flat=True)
        if passed or list(anchor) != [resume.last_hash]:
            resume = None
    by_entry: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        if resume is None or resume.last_id is None or checkpoint.entry_id > resume.last_id:
            by_entry.setdefault(checkpoint.entry_id, []).append(checkpoint)

    def broken(entry_id: int | None, problem: str) -> Verification:
        return Verification(False, checked, entry_id, problem, len(checkpoints), unkeyed)

    previous, checked, unkeyed, seen_keyed, last_id = GENESIS, 0, 0, False, None
    entries = AuditEntry.objects.order_by("id")
    if resume is not None:
        previous, checked, unkeyed = resume.last_hash, resume.checked, resume.unkeyed
        seen_keyed, last_id = resume.seen_keyed, resume.last_id
        if last_id is not None:
            entries = entries.filter(id__gt=last_id)
    for entry in entries.iterator(chunk_size=2000):
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
    if key and last_id is not None and not seen_keyed:
        # Every entry written since the key was set is keyed: a log whose newest entry is not
        # was rewritten (by someone without the key, as unkeyed entries), or nothing has been
        # recorded since the key was set (any recorded action ends that).
        return broken(
            last_id,
            "is not keyed though AUDIT_LOG_KEY is set: no entry of the log is keyed (was it "
            "rewritten? just after the key was first set, any recorded action clears this)",
        )
    state = ChainState(
        last_id=last_id,
        last_hash=previous,
        checked=checked,
        unkeyed=unkeyed,
        seen_keyed=seen_keyed,
        checkpoint_locations=frozenset(c.location for c in checkpoints),
    )
    return Verification(
        True, checked, None, "", len(checkpoints), unkeyed, state=state, resumed=resume is not None
    )


VERIFIED_KEY = "iamreview:audit-chain-verified"


def page_verification(*, now: datetime) -> Verification:
    """The audit page's verification: the whole chain at most every AUDIT_FULL_VERIFY_SECONDS,
    and on every view the entries written since the last walk (so each view costs what was
    added, not the length of the log). `python manage.py verify_audit_log` always walks it all."""
    last = cache.get(VERIFIED_KEY)
    age = settings.AUDIT_FULL_VERIFY_SECONDS
    if last is not None and (now - last[0]).total_seconds() < age:
        walked_at, state = last
        result = verify_chain(resume=state)
    else:
        result = verify_chain()
    if result.resumed:
        result.newly_checked = result.checked - state.checked
    else:
        walked_at = now
        result.newly_checked = result.checked
    result.walked_at = walked_at
    if result.intact:
        cache.set(VERIFIED_KEY, (walked_at, result.state), settings.AUDIT_FULL_VERIFY_SECONDS)
    else:
        cache.delete(VERIFIED_KEY)  # a broken chain is walked whole on every view
    return result


def forget_verification() -> None:
    """The next page view walks the whole chain."""
    cache.delete(VERIFIED_KEY)
