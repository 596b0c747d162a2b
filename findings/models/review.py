"""Review cycles: a frozen population of items, decided by reviewers, signed off by an approver."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ReviewCycle(models.Model):
    """Once signed off, PostgreSQL refuses any change to the row, and its deletion (migration
    0030)."""

    class Kind(models.TextChoices):
        MONTHLY = "monthly", "Monthly: external access"
        QUARTERLY = "quarterly", "Quarterly: credential hygiene"
        RELEASE = "release", "Per release: application roles"

    class State(models.TextChoices):
        OPEN = "open", "In review"
        SIGNED_OFF = "signed_off", "Signed off"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=300)
    # "2026-11" for monthly, "2026-Q4" for quarterly; empty for release and ad-hoc cycles.
    period = models.CharField(max_length=20, blank=True)
    scope_accounts = models.ManyToManyField(
        "findings.AwsAccount", blank=True, related_name="+", through="findings.ReviewCycleScope"
    )
    opened_at = models.DateTimeField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    due_on = models.DateField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    population_hash = models.CharField(max_length=64)
    population_count = models.PositiveIntegerField(default=0)
    # Sign-off
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    attestation = models.TextField(blank=True)
    signed_population_hash = models.CharField(max_length=64, blank=True)
    # The hash of the sign-off summary the approver read and signed (reviews/summary.py).
    signed_summary_hash = models.CharField(max_length=64, blank=True)
    # That summary itself, as signed (summary_document): the evidence pack ships it, since one
    # computed later shows what changed since. None: open, or signed before it was kept.
    signed_summary = models.JSONField(null=True, blank=True)
    # Per-release cycles
    application = models.CharField(max_length=200, blank=True)
    version = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True)
    unknown_role_arns = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # A scheduled period opens once, however often the scheduler runs.
            models.UniqueConstraint(
                fields=["kind", "period"],
                condition=~Q(period=""),
                name="one_cycle_per_kind_and_period",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def scope_names(self) -> list[str]:
        """Names of the accounts in scope (none: every account), as pages show them: annotated
        by `findings.reviews.queue.with_scope_names` on PostgreSQL, else read here."""
        names = getattr(self, "scope_account_names", None)
        if names is None:
            names = [account.name for account in self.scope_accounts.all()]
        return names


def cascade_unless_signed_off(collector, field, sub_objs, using) -> None:
    """Deleting an account takes it out of open cycles' scope (CASCADE). A signed-off cycle's
    scope is part of what was signed (PostgreSQL refuses to change it, migration 0034), even
    where none of its items is of that account: the deletion is refused as a protected one,
    which the admin explains instead of failing in the database."""
    _refuse_if_signed_off(
        sub_objs.select_related("reviewcycle", "awsaccount"),
        cycle="reviewcycle",
        why="signed-off review cycle(s) have this account in their scope; the signed record "
        "keeps it. Disable the account instead.",
    )
    models.CASCADE(collector, field, sub_objs, using)


def _refuse_if_signed_off(sub_objs: models.QuerySet, *, cycle: str, why: str) -> None:
    """A deletion that would change rows of signed-off cycles is refused as a protected one
    (one query, whatever the number of rows): the admin then says why, instead of a database
    error from the triggers."""
    signed = list(sub_objs.filter(**{f"{cycle}__state": ReviewCycle.State.SIGNED_OFF}))
    if signed:
        raise models.ProtectedError(f"{len(signed)} {why}", signed)


class ReviewCycleScope(models.Model):
    """One account of a cycle's scope (`ReviewCycle.scope_accounts`), on the table Django made
    for the field. Declared only to choose what deleting an account does to it: refused for a
    signed-off cycle (cascade_unless_signed_off), whose scope rows PostgreSQL also refuses to
    change (migration 0034)."""

    reviewcycle = models.ForeignKey(ReviewCycle, on_delete=models.CASCADE, related_name="+")
    awsaccount = models.ForeignKey(
        "findings.AwsAccount", on_delete=cascade_unless_signed_off, related_name="+"
    )

    class Meta:
        db_table = "findings_reviewcycle_scope_accounts"
        unique_together = [("reviewcycle", "awsaccount")]
        verbose_name = "review cycle scope account"

    def __str__(self) -> str:
        return f"{self.awsaccount} in the scope of {self.reviewcycle}"


class CycleTally(models.Model):
    """A cycle's item counts, kept by database triggers on the items (migration 0020): the pages
    read one row instead of counting a 10,000-item cycle on every request. Never written by the
    application, so a stale instance can never overwrite a newer count."""

    cycle = models.OneToOneField(
        ReviewCycle, on_delete=models.CASCADE, primary_key=True, related_name="tally"
    )
    total = models.IntegerField(default=0)
    decided = models.IntegerField(default=0)
    # Undecided and not marked "no response": what sign-off still waits for.
    awaiting = models.IntegerField(default=0)
    # Undecided and assigned to nobody.
    unassigned = models.IntegerField(default=0)

    class Meta:
        db_table = "findings_cycletally"

    def __str__(self) -> str:
        return f"{self.decided}/{self.total} decided"


def clear_unless_signed_off(collector, field, sub_objs, using) -> None:
    """Deleting a person clears their assignments in open cycles (SET_NULL). An item of a
    signed-off cycle keeps who was asked, as a decision keeps who decided (PostgreSQL refuses
    to change it, migration 0031): the deletion is refused as a protected one, which the admin
    explains ("deactivate them instead") instead of failing in the database."""
    _refuse_if_signed_off(
        sub_objs,
        cycle="cycle",
        why="item(s) of signed-off review cycles were assigned to this person; the signed "
        "record keeps who was asked. Deactivate the person instead.",
    )
    models.SET_NULL(collector, field, sub_objs, using)


class ReviewItem(models.Model):
    class SubjectType(models.TextChoices):
        FINDING = "finding", "Access Analyzer finding"
        USER = "user", "IAM user"
        ROLE = "role", "IAM role"

    class Freshness(models.TextChoices):
        SAME = "", "Unchanged"
        CHANGED = "changed", "Fresh data changed"
        GONE = "gone", "Gone from fresh data"

    class Remediation(models.TextChoices):
        NONE = "", "—"
        PENDING = "pending", "Remediation pending"
        VERIFIED = "verified", "Remediation verified"

    cycle = models.ForeignKey(ReviewCycle, on_delete=models.CASCADE, related_name="items")
    account = models.ForeignKey("findings.AwsAccount", on_delete=models.PROTECT, related_name="+")
    subject_type = models.CharField(max_length=10, choices=SubjectType.choices)
    subject_arn = models.CharField(max_length=2048)
    subject_key = models.CharField(max_length=2100)
    title = models.CharField(max_length=500)
    severity = models.CharField(max_length=10, blank=True)
    severity_rank = models.PositiveSmallIntegerField(default=9)
    findings = models.ManyToManyField("findings.Finding", blank=True, related_name="review_items")
    frozen_evidence = models.JSONField()
    evidence_hash = models.CharField(max_length=64)
    # What `freshness` compares fresh data with (reviews/substance.py): the frozen evidence
    # without the dates mere use moves. Not an integrity hash: evidence_hash is that. None on
    # items signed off before it existed (their freshness is no longer kept). Nullable, without
    # a default, so that SQLite adds the column in place: a rebuilt table loses its tally
    # triggers (migration 0020).
    substance_hash = models.CharField(max_length=64, null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=clear_unless_signed_off,
        related_name="+",
    )
    latest_decision = models.ForeignKey(
        "findings.Decision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The latest decision counts as "decided" unless it is a delegation.
    is_decided = models.BooleanField(default=False)
    remediation = models.CharField(max_length=10, choices=Remediation.choices, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by_run = models.ForeignKey(
        "findings.CollectionRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Undecided at the due date, where the kind's setting says "no_response": the approver
    # sees it as such and may sign off without it.
    no_response_at = models.DateTimeField(null=True, blank=True)
    # The last comparison of fresh policies with the remediation plan (empty: no plan checked).
    plan_check = models.JSONField(default=dict, blank=True)
    # Set when an accepted risk's expiry has brought this item back in a later cycle.
    follows_item = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Whether fresh data still matches what the cycle froze: kept current by detection (after
    # each collection), so the queue and item pages read it instead of rebuilding the population.
    freshness = models.CharField(max_length=10, choices=Freshness.choices, blank=True, default="")
    # When "changed": what changed, in a reviewer's words ({"parts": ["MFA", "policies"]}), and
    # the substance hash of the fresh reading it was worked out against ("against").
    fresh_changes = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["severity_rank", "title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "subject_key"], name="one_item_per_subject")
        ]
        indexes = [
            models.Index(fields=["cycle", "is_decided"]),
            # The queue's default order, so a page is an index walk, not a sort of the cycle.
            models.Index(fields=["cycle", "severity_rank", "title", "id"], name="item_queue_order"),
            # "Next undecided" from an item: a seek, whatever was decided after it.
            models.Index(
                fields=["cycle", "severity_rank", "title", "id"],
                condition=Q(is_decided=False),
                name="item_queue_undecided",
            ),
            models.Index(fields=["cycle", "title", "id"], name="item_queue_by_title"),
            models.Index(fields=["cycle", "account"], name="item_cycle_account"),
            # Segregation of duties: does the cycle review one of this person's own identities
            # (asked on every queue view by an approver): a probe, not a pass over the cycle.
            models.Index(fields=["cycle", "subject_arn"], name="item_cycle_subject"),
        ]

    def __str__(self) -> str:
        return self.title


class Decision(models.Model):
    """Append-only: a new decision supersedes the previous one; none is ever changed. On
    PostgreSQL a trigger refuses UPDATE of any column but expiry_handled_at, and DELETE
    (migration 0030)."""

    class Kind(models.TextChoices):
        KEEP = "keep", "Keep"
        REMEDIATE = "remediate", "Remediate"
        ACCEPT_RISK = "accept_risk", "Accept risk"
        FALSE_POSITIVE = "false_positive", "False positive"
        DELEGATE = "delegate", "Delegate"

    item = models.ForeignKey(ReviewItem, on_delete=models.PROTECT, related_name="decisions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    justification = models.TextField(blank=True)
    expires_on = models.DateField(null=True, blank=True)
    delegate_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions"
    )
    decided_at = models.DateTimeField()
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    bulk = models.BooleanField(default=False)
    # The IAM identities linked to the decider when they decided (segregation of duties evidence:
    # a link removed later does not change what was checked).
    decider_links = models.JSONField(default=list, blank=True)
    # The teams (IAM `team` tags) of those identities when they decided: the sign-off
    # summary's conflict-of-interest check judges the decision by them, not by a tag changed
    # since. None: decided before teams were recorded (the summary reads today's tags).
    decider_teams = models.JSONField(null=True, blank=True)
    # "Remediate" with the right-sizing suggestion attached: the documents to end up with.
    remediation_plan = models.JSONField(null=True, blank=True)
    # Accept-risk follow-up: set once its expiry has been handled.
    expiry_handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [
            # Two people deciding at once cannot both be "the first decision" of an item.
            models.UniqueConstraint(
                fields=["item"], condition=Q(supersedes=None), name="one_first_decision"
            )
        ]
        indexes = [
            # The webhooks' minute: remediations decided in its recent window.
            models.Index(
                fields=["decided_at"], condition=Q(kind="remediate"), name="decision_remediate_at"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.decided_by_id}"


class SentReminder(models.Model):
    """A reminder or escalation that went to someone: each key goes to a person once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # "due:<cycle>:<days>", "overdue:<cycle>:<date>", "sign:<cycle>", "escalate:<cycle>"
    key = models.CharField(max_length=100)
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="reminder_once")]

    def __str__(self) -> str:
        return self.key
