from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Append-only record of every state-changing action. Each entry hashes the previous one.

    On PostgreSQL triggers reject UPDATE, DELETE and TRUNCATE (see the migrations). With
    AUDIT_LOG_KEY set, each hash is an HMAC under that key (`keyed`).
    """

    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=254, help_text="Email at the time, or 'system'")
    action = models.CharField(max_length=80)
    target_type = models.CharField(max_length=80)
    target_id = models.CharField(max_length=200)
    target_label = models.CharField(max_length=500, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)
    keyed = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            # The audit page's list of actions skips along it, one action at a time; its
            # filter by action reads it newest first.
            models.Index(fields=["action", "id"], name="audit_entry_action"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_label}"


class AuditCheckpoint(models.Model):
    """A copy of a checkpoint written outside the database (a file or a locked S3 object).

    Only for showing and mailing: verification reads the checkpoints where they were written.
    """

    entry_id = models.BigIntegerField()
    entry_hash = models.CharField(max_length=64)
    entries = models.PositiveBigIntegerField()
    written_at = models.DateTimeField()
    location = models.CharField(max_length=1000)

    class Meta:
        ordering = ["-written_at"]

    def __str__(self) -> str:
        return f"#{self.entry_id} {self.entry_hash[:12]} at {self.written_at:%Y-%m-%d %H:%M}"
