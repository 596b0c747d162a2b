"""The audit log: who did what, when, before and after; append-only and hash-chained.

With AUDIT_LOG_KEY set, each link is an HMAC-SHA256 under that key, which lives outside the
database: someone who edits a row and recomputes the hashes after it cannot make them match.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from findings.models import AuditEntry

GENESIS = "0" * 64
# Any constant: serializes writers so that each entry chains to the one before it.
AUDIT_LOCK_ID = 7_311_202_611


def entry_hash(*, previous_hash: str, fields: dict, key: str = "") -> str:
    payload = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    message = f"{previous_hash}\n{payload}".encode()
    if key:
        return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
    return hashlib.sha256(message).hexdigest()


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
            keyed=bool(settings.AUDIT_LOG_KEY),
        )
        entry.entry_hash = entry_hash(
            previous_hash=entry.previous_hash,
            fields=hashed_fields(entry=entry),
            key=settings.AUDIT_LOG_KEY,
        )
        entry.save()
    return entry
