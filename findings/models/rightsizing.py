"""Suggested least-privilege policies, one per principal, recomputed after each collection."""

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

    def __str__(self) -> str:
        return f"Suggestion for {self.principal_name}"
