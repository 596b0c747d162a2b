"""Suggested least-privilege policies, one per principal, recomputed after each collection."""

from django.conf import settings
from django.db import models


class PolicySuggestion(models.Model):
    """The latest suggestion for a user or role. ``data`` is the whole suggestion (the JSON of
    ``manage.py suggest_policy``); the columns beside it sort and filter the Right-sizing page."""

    account = models.ForeignKey("findings.AwsAccount", on_delete=models.CASCADE, related_name="+")
    principal_arn = models.CharField(max_length=2048)
    principal_type = models.CharField(max_length=10)  # user or role
    principal_name = models.CharField(max_length=128)
    principal_pk = models.PositiveBigIntegerField()
    tags = models.JSONField(default=dict)
    computed_at = models.DateTimeField()
    unused_days = models.PositiveIntegerField()
    removed_services = models.PositiveIntegerField(default=0)
    removed_actions = models.PositiveIntegerField(default=0)
    removed_write_actions = models.PositiveIntegerField(default=0)
    removes_admin = models.BooleanField(default=False)
    changed_policies = models.PositiveIntegerField(default=0)
    action_database = models.CharField(max_length=60)
    data = models.JSONField()
    # Of every column but computed_at, and of `data` without its generated_at: a recollection
    # that changes nothing rewrites no suggestion, so computed_at is when it took this form.
    fingerprint = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = [
            "-removes_admin",
            "-removed_write_actions",
            "-removed_actions",
            "principal_name",
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "principal_arn"], name="one_suggestion_per_principal"
            )
        ]
        indexes = [
            # The Right-sizing page: suggestions that change something, in its order (a page
            # and its count walk this index, not the table of every principal's suggestion).
            models.Index(
                fields=[
                    "-removes_admin",
                    "-removed_write_actions",
                    "-removed_actions",
                    "principal_name",
                    "id",
                ],
                condition=models.Q(changed_policies__gt=0),
                name="suggestion_list_order",
            ),
        ]

    def __str__(self) -> str:
        return f"Suggestion for {self.principal_name}"


class GeneratedPolicy(models.Model):
    """A policy Access Analyzer generated from CloudTrail for one principal over one period."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        IN_PROGRESS = "in_progress", "In progress"
        SUCCEEDED = "succeeded", "Generated"
        FAILED = "failed", "Failed"

    account = models.ForeignKey("findings.AwsAccount", on_delete=models.CASCADE, related_name="+")
    principal_arn = models.CharField(max_length=2048)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    trail_arn = models.CharField(max_length=2048)
    job_id = models.CharField(max_length=200, blank=True)
    # When a task claimed the start of the AWS job (one task starts it; see _claim_start).
    start_claimed_at = models.DateTimeField(null=True, blank=True)
    # When a task last polled the started job (or began an attempt at it): a job nobody has
    # polled for a while lost its task, and is taken up again (see policy_generation.needs_task).
    polled_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    waited_seconds = models.FloatField(default=0)
    error = models.TextField(blank=True)
    policies = models.JSONField(default=list, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["account", "principal_arn", "-requested_at"])]

    def __str__(self) -> str:
        return f"Generated policy for {self.principal_arn} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.IN_PROGRESS)

    @property
    def days(self) -> int:
        return round((self.period_end - self.period_start).total_seconds() / 86400)


class FindingRecommendation(models.Model):
    """Access Analyzer's recommended policy changes for one UnusedPermission finding."""

    account = models.ForeignKey("findings.AwsAccount", on_delete=models.CASCADE, related_name="+")
    finding_id = models.CharField(max_length=200)
    principal_arn = models.CharField(max_length=2048)
    status = models.CharField(max_length=20)  # SUCCEEDED, FAILED, ERROR, TIMED_OUT
    # [{"action": "CREATE_POLICY" | "DETACH_POLICY", "policy": {...} | None, "existing_policy_id"}]
    steps = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    fetched_at = models.DateTimeField()
    # How many times in a row AWS gave no recommendation (0 once one came): bounds how often an
    # unchanged finding is asked again (collection.recommendations.MAX_FAILED_ATTEMPTS).
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "finding_id"], name="one_recommendation_per_finding"
            )
        ]

    def __str__(self) -> str:
        return f"Recommendation for {self.finding_id} ({self.status})"
