from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

# ASCII only: `\d` and `\w` also match other scripts' digits and letters ("１２…"), which no
# AWS ARN holds.
account_id_validator = RegexValidator(r"^[0-9]{12}$", "An AWS account id is 12 digits.")
role_arn_validator = RegexValidator(
    r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$",
    "A role ARN looks like arn:aws:iam::123456789012:role/IAMReviewReadOnly",
)

trail_arn_validator = RegexValidator(
    r"^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:[0-9]{12}:trail/[A-Za-z0-9_.-]+$",
    "A trail ARN looks like arn:aws:cloudtrail:us-east-1:123456789012:trail/management-events",
)


class ScpState(models.TextChoices):
    UNKNOWN = "", "Not read (discovery has not read the organization's SCPs)"
    APPLIED = "applied", "Applied"
    NOT_ENABLED = "not_enabled", "SCPs are not enabled in the organization"
    EXEMPT = "exempt", "The management account: SCPs do not apply to it"


class AwsAccount(models.Model):
    """A connected AWS account. No AWS secret is ever stored: we assume `role_arn`."""

    class Origin(models.TextChoices):
        MANUAL = "manual", "Added by hand"
        ORGANIZATIONS = "organizations", "Discovered in AWS Organizations"

    # organization_id of an account that AWS says is in no organization (ids are o-...).
    NO_ORGANIZATION = "none"

    account_id = models.CharField(max_length=12, unique=True, validators=[account_id_validator])
    name = models.CharField(max_length=200)
    role_arn = models.CharField(
        max_length=2048,
        blank=True,
        validators=[role_arn_validator],
        help_text="Role to assume in this account. Empty: use the collector's own credentials.",
    )
    external_id = models.CharField(max_length=1224, blank=True)
    regions = models.JSONField(
        default=list, blank=True, help_text="Regions to read IAM Access Analyzer from."
    )
    # CloudTrail policy generation (Access Analyzer StartPolicyGeneration): the trail to read
    # and the role Access Analyzer assumes to read it. Both empty: generation is off.
    trail_arn = models.CharField(
        max_length=2048,
        blank=True,
        validators=[trail_arn_validator],
        help_text="CloudTrail trail to generate policies from. Empty: no generation.",
    )
    trail_access_role_arn = models.CharField(
        max_length=2048,
        blank=True,
        validators=[role_arn_validator],
        help_text="Role Access Analyzer assumes to read the trail.",
    )
    enabled = models.BooleanField(default=True)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.MANUAL)
    org_state = models.CharField(
        max_length=30, blank=True, help_text="State in AWS Organizations (ACTIVE, SUSPENDED, ...)."
    )
    org_joined_at = models.DateTimeField(null=True, blank=True)
    # The organization it is in (o-...): the one that listed it, or, for an account added by
    # hand, the one its own DescribeOrganization names (NO_ORGANIZATION: in none); "" unknown.
    # Discovery of one organization marks only its own former accounts as no longer listed,
    # never another organization's; an organization analyzer covers its own accounts only.
    organization_id = models.CharField(max_length=40, blank=True)
    # The organization's service control policies over the account, as discovery last read
    # them: its levels root first, each with the SCPs attached there (name and document).
    # A failed read keeps the last good one and says why in scp_error. scp_read_at: when the
    # SCPs as stored were read (a later discovery that finds them unchanged writes nothing).
    scp_state = models.CharField(max_length=20, choices=ScpState.choices, blank=True)
    scp_levels = models.JSONField(default=list, blank=True)
    scp_read_at = models.DateTimeField(null=True, blank=True)
    scp_error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "account_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"

    @property
    def in_no_organization(self) -> bool:
        return self.organization_id == self.NO_ORGANIZATION

    def clean(self) -> None:
        """The role to assume must be in this account: a role reads its own account's IAM, so
        a role of another account would collect that account's users as this one's."""
        parts = self.role_arn.split(":")
        if self.role_arn and len(parts) == 6 and parts[4] != self.account_id:
            raise ValidationError(
                {
                    "role_arn": f"This role is in account {parts[4]}, not {self.account_id}: "
                    "the role to assume must be in the account it reads."
                }
            )

    @property
    def scp_levels_in_effect(self) -> list | None:
        """The SCP levels escalation applies; None when SCPs are not known to apply."""
        return self.scp_levels if self.scp_state == ScpState.APPLIED else None

    @property
    def generates_policies(self) -> bool:
        return bool(self.trail_arn and self.trail_access_role_arn)

    @property
    def regions_display(self) -> str:
        return ", ".join(self.regions) or "—"
