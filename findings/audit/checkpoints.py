"""Checkpoints: the head of the audit chain, written on a schedule where the database cannot
rewrite it (a directory by default, or an S3 bucket with object lock), and signed with
AUDIT_LOG_KEY. Verification compares the log with every checkpoint, so a deleted tail or a
truncated table shows even though what is left chains correctly.
"""

import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings

from findings.aws.locked_objects import put_locked_object, read_objects
from findings.aws.session import client, hub_session
from findings.models import AuditCheckpoint, AuditEntry


@dataclass(frozen=True)
class Checkpoint:
    entry_id: int
    entry_hash: str
    entries: int
    written_at: str
    mac: str = ""
    location: str = ""

    def signed_fields(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if k not in {"mac", "location"}}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def expected_mac(self, key: str) -> str:
        return hmac.new(key.encode(), self.signed_fields(), hashlib.sha256).hexdigest()


def _name(checkpoint: Checkpoint) -> str:
    stamp = checkpoint.written_at.replace(":", "").replace("-", "").replace("+0000", "Z")
    return f"checkpoint-{checkpoint.entry_id:012d}-{stamp}.json"


def _body(checkpoint: Checkpoint) -> bytes:
    fields = {k: v for k, v in asdict(checkpoint).items() if k != "location"}
    return json.dumps(fields, sort_keys=True, indent=1).encode() + b"\n"


class UnreadableCheckpoint(ValueError):
    pass


def _parse(raw: bytes, location: str) -> Checkpoint:
    try:
        data = json.loads(raw)
        return Checkpoint(
            entry_id=int(data["entry_id"]),
            entry_hash=str(data["entry_hash"]),
            entries=int(data["entries"]),
            written_at=str(data["written_at"]),
            mac=str(data.get("mac", "")),
            location=location,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise UnreadableCheckpoint(f"checkpoint {location} is unreadable ({exc})") from exc


def checkpoint_store() -> str:
    """Where checkpoints go, in words (for the command, the README and the digest)."""
    if settings.AUDIT_CHECKPOINT_S3_BUCKET:
        return f"s3://{settings.AUDIT_CHECKPOINT_S3_BUCKET}/{settings.AUDIT_CHECKPOINT_S3_PREFIX}"
    return str(settings.AUDIT_CHECKPOINT_DIR)


def _store(checkpoint: Checkpoint, *, now: datetime) -> str:
    if settings.AUDIT_CHECKPOINT_S3_BUCKET:
        return put_locked_object(
            client(hub_session(), "s3"),
            bucket=settings.AUDIT_CHECKPOINT_S3_BUCKET,
            key=settings.AUDIT_CHECKPOINT_S3_PREFIX + _name(checkpoint),
            body=_body(checkpoint),
            retain_until=now + timedelta(days=settings.AUDIT_CHECKPOINT_RETENTION_DAYS),
        )
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _name(checkpoint)
    # Created, never overwritten, and read-only: a later checkpoint is a new file.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(descriptor, "wb") as out:
        out.write(_body(checkpoint))
    return str(path)


def write_checkpoint(*, now: datetime) -> AuditCheckpoint | None:
    """Write the head of the chain out; None when the log is empty or unchanged since the last."""
    head = AuditEntry.objects.order_by("-id").values("id", "entry_hash").first()
    if head is None:
        return None
    latest = AuditCheckpoint.objects.order_by("-entry_id").first()
    if latest is not None and latest.entry_id == head["id"]:
        return None
    checkpoint = Checkpoint(
        entry_id=head["id"],
        entry_hash=head["entry_hash"],
        entries=_entries_up_to(head["id"], latest=latest),
        written_at=now.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    if settings.AUDIT_LOG_KEY:
        checkpoint = Checkpoint(
            **{**asdict(checkpoint), "mac": checkpoint.expected_mac(settings.AUDIT_LOG_KEY)}
        )
    location = _store(checkpoint, now=now)
    return AuditCheckpoint.objects.create(
        entry_id=checkpoint.entry_id,
        entry_hash=checkpoint.entry_hash,
        entries=checkpoint.entries,
        written_at=now,
        location=location,
    )


def _entries_up_to(entry_id: int, *, latest: AuditCheckpoint | None) -> int:
    """How many entries the log holds up to `entry_id`: the previous checkpoint's count and
    those written since, not the whole log counted every hour. (Entries removed below the
    previous checkpoint are not subtracted: it already says how many there were, and
    verification reports the difference there.)"""
    if latest is None or latest.entry_id > entry_id:  # none yet, or a log that went back
        return AuditEntry.objects.filter(id__lte=entry_id).count()
    since = AuditEntry.objects.filter(id__gt=latest.entry_id, id__lte=entry_id).count()
    return latest.entries + since


def read_checkpoints() -> list[Checkpoint]:
    """Every checkpoint where they were written, oldest entry first."""
    if settings.AUDIT_CHECKPOINT_S3_BUCKET:
        found = read_objects(
            client(hub_session(), "s3"),
            bucket=settings.AUDIT_CHECKPOINT_S3_BUCKET,
            prefix=settings.AUDIT_CHECKPOINT_S3_PREFIX,
        )
        raw = {f"s3://{settings.AUDIT_CHECKPOINT_S3_BUCKET}/{k}": v for k, v in found.items()}
    else:
        directory = Path(settings.AUDIT_CHECKPOINT_DIR)
        paths = sorted(directory.glob("checkpoint-*.json")) if directory.is_dir() else []
        raw = {str(path): path.read_bytes() for path in paths}
    return sorted(
        (_parse(body, location) for location, body in raw.items()),
        key=lambda c: (c.entry_id, c.written_at),
    )


def latest_checkpoints(*, since: datetime) -> list[AuditCheckpoint]:
    return list(AuditCheckpoint.objects.filter(written_at__gte=since).order_by("-written_at")[:5])
