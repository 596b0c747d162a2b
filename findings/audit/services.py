"""The audit log: who did what, when, before and after; append-only and hash-chained."""

import hashlib
import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from findings.models import AuditEntry

GENESIS = "0" * 64
# Any constant: serializes writers so that each entry chains to the one before it.
AUDIT_LOCK_ID = 7_311_202_611


def entry_hash(*, previous_hash: str, fields: dict) -> str:
    payload = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{previous_hash}\n{payload}".encode()).hexdigest()


def hashed_fields(*, entry: AuditEntry) -> dict:
    return {
        "at": entry.at.isoformat(),
        "actor": entry.actor_label,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "target_label": entry.target_label,
        "before": entry.before,
        "after": entry.after,
    }


def jsonable(*, value: object) -> object:
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def record(
    *,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: int | str,
    target_label: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Append one entry. Call inside the transaction of the change it records."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK_ID])
        last = AuditEntry.objects.order_by("-id").values_list("entry_hash", flat=True).first()
        entry = AuditEntry(
            at=timezone.now(),
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=getattr(actor, "email", None) or "system",
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            target_label=str(target_label)[:500],
            before=jsonable(value=before),
            after=jsonable(value=after),
            previous_hash=last or GENESIS,
        )
        entry.entry_hash = entry_hash(
            previous_hash=entry.previous_hash, fields=hashed_fields(entry=entry)
        )
        entry.save()
    return entry


@dataclass
class Verification:
    intact: bool
    checked: int
    broken_entry_id: int | None = None
    problem: str = ""


def verify_chain() -> Verification:
    previous = GENESIS
    checked = 0
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=2000):
        if entry.previous_hash != previous:
            return Verification(False, checked, entry.pk, "does not link to the entry before it")
        expected = entry_hash(previous_hash=previous, fields=hashed_fields(entry=entry))
        if entry.entry_hash != expected:
            return Verification(False, checked, entry.pk, "its content does not match its hash")
        previous = entry.entry_hash
        checked += 1
    return Verification(True, checked)
