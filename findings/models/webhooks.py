"""Webhooks: where events go, and the log of every delivery attempt."""

from django.db import models


class Webhook(models.Model):
    class Format(models.TextChoices):
        JSON = "json", "Signed JSON"
        SLACK = "slack", 'Slack-compatible ({"text": ...})'

    class Event(models.TextChoices):
        CRITICAL_FINDING = "finding.critical", "New critical finding"
        CYCLE_READY = "cycle.ready_to_sign", "Cycle ready to sign off"
        CYCLE_OVERDUE = "cycle.overdue", "Cycle overdue"
        REMEDIATION = "decision.remediate", "Remediation decided"

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000)
    secret = models.CharField(
        max_length=200, help_text="Shared secret for the X-IAMReview-Signature HMAC-SHA256 header."
    )
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.JSON)
    events = models.JSONField(default=list, help_text="Event names; empty means every event.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Until when events were looked for on its behalf (the `now` of the last run, kept
    # whether it was active or not); empty: since it was created. See queue_webhook_events.
    events_seen_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        # A value that is no list (set by hand in the database) wants nothing, rather than
        # stopping every other webhook's events with a TypeError.
        return not self.events or (isinstance(self.events, list) and event in self.events)


class WebhookDelivery(models.Model):
    """One event for one webhook; attempts are retried with backoff until delivered or failed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    # What happened, once: the same event never goes twice to the same webhook.
    event_key = models.CharField(max_length=200)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_key"], name="webhook_event_once")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due")]

    def __str__(self) -> str:
        return f"{self.event} -> {self.webhook}"
