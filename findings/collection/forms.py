"""Forms of the collection pages: they parse and validate input; the registry and imports act."""

from django import forms
from django.core.exceptions import ValidationError

from findings.collection.imports import KINDS, ImportRejected, check_size
from findings.collection.registry import parse_regions
from findings.models import AwsAccount, Source
from findings.models.accounts import (
    account_id_validator,
    role_arn_validator,
    trail_arn_validator,
)

# The AWS CLI command that saves each kind of file, shown next to the choice.
IMPORT_COMMANDS = {
    "credential-report": (
        "aws iam get-credential-report --output text --query Content "
        "| base64 -d > credential-report.csv"
    ),
    "authorization-details": (
        "aws iam get-account-authorization-details > authorization-details.json"
    ),
    "access-analyzer-findings": (
        "aws accessanalyzer list-findings-v2 --analyzer-arn ARN > findings.json"
    ),
    "service-last-accessed": (
        "aws iam get-service-last-accessed-details --job-id JOB_ID > service-last-accessed.json"
    ),
}


class AwsAccountChangeForm(forms.Form):
    """What can change on a registered account (its id never does: evidence hangs on it)."""

    name = forms.CharField(max_length=200, help_text="How people call this account.")
    role_arn = forms.CharField(
        label="Role ARN",
        max_length=2048,
        required=False,
        validators=[role_arn_validator],
        help_text="The read-only role iamreview assumes in this account. "
        "Empty: the collector's own credentials.",
        widget=forms.TextInput(
            attrs={"placeholder": "arn:aws:iam::123456789012:role/IAMReviewReadOnly"}
        ),
    )
    external_id = forms.CharField(
        label="External ID",
        max_length=1224,
        required=False,
        help_text="Only if the role's trust policy requires one.",
    )
    regions = forms.CharField(
        max_length=2000,
        required=False,
        help_text="Comma-separated regions to read IAM Access Analyzer from, e.g. us-east-1, "
        "eu-west-1. Empty: us-east-1.",
    )
    trail_arn = forms.CharField(
        label="CloudTrail trail ARN",
        max_length=2048,
        required=False,
        validators=[trail_arn_validator],
        help_text="Optional: a trail Access Analyzer may generate role policies from.",
    )
    trail_access_role_arn = forms.CharField(
        label="CloudTrail access role ARN",
        max_length=2048,
        required=False,
        validators=[role_arn_validator],
        help_text="The role Access Analyzer assumes to read that trail (needed with the trail).",
    )

    def clean_name(self) -> str:
        return self.cleaned_data["name"].strip()

    def clean_role_arn(self) -> str:
        return self.cleaned_data["role_arn"].strip()

    def clean_regions(self) -> list[str]:
        return parse_regions(value=self.cleaned_data["regions"])

    def clean(self):
        data = super().clean()
        trail = (data.get("trail_arn") or "").strip()
        role = (data.get("trail_access_role_arn") or "").strip()
        if bool(trail) != bool(role) and not self.errors:
            self.add_error(
                "trail_access_role_arn" if trail else "trail_arn",
                "Policy generation needs both the trail and the role that reads it.",
            )
        data["trail_arn"], data["trail_access_role_arn"] = trail, role
        return data

    @classmethod
    def for_account(cls, account: AwsAccount, **kwargs) -> "AwsAccountChangeForm":
        initial = {
            "name": account.name,
            "role_arn": account.role_arn,
            "external_id": account.external_id,
            "regions": ", ".join(account.regions),
            "trail_arn": account.trail_arn,
            "trail_access_role_arn": account.trail_access_role_arn,
        }
        return cls(initial=initial, **kwargs)

    def add_model_errors(self, error: ValidationError) -> None:
        """Errors from the model's own validation, put next to the field they concern."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, messages in error.message_dict.items():
            self.add_error(field if field in self.fields else None, messages)


class AwsAccountForm(AwsAccountChangeForm):
    account_id = forms.CharField(
        label="Account ID",
        min_length=12,
        max_length=12,
        validators=[account_id_validator],
        help_text="The 12-digit AWS account id.",
        widget=forms.TextInput(
            attrs={"autofocus": True, "inputmode": "numeric", "autocomplete": "off"}
        ),
    )

    field_order = [
        "account_id",
        "name",
        "role_arn",
        "external_id",
        "regions",
        "trail_arn",
        "trail_access_role_arn",
    ]

    def clean_account_id(self) -> str:
        account_id = self.cleaned_data["account_id"].strip()
        existing = AwsAccount.objects.filter(account_id=account_id).first()
        if existing is not None:
            raise ValidationError(
                f"Account {account_id} is already registered, as “{existing.name}”."
            )
        return account_id


class ImportForm(forms.Form):
    account = forms.ModelChoiceField(
        queryset=AwsAccount.objects.all(),
        empty_label="Choose an account",
        widget=forms.Select(attrs={"autofocus": True}),
        help_text="The account the file was saved from.",
    )
    kind = forms.ChoiceField(
        choices=[(kind, Source(source).label) for kind, source in KINDS.items()],
        widget=forms.RadioSelect,
    )
    file = forms.FileField(help_text="The file exactly as the AWS CLI saved it.")
    principal_arn = forms.CharField(
        label="Principal ARN",
        max_length=2048,
        required=False,
        help_text="Service last accessed only: the user or role the job was generated for.",
    )
    complete = forms.BooleanField(
        label="Complete snapshot: made without --filter",
        required=False,
        help_text="Authorization details only. Tick it when the file holds every type, so that "
        "a type with no entries (no IAM users left, say) marks what is stored of it gone. "
        "Unticked, a type with no entries is kept as stored: output made with --filter leaves "
        "the other types out or empty.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == "service-last-accessed" and not cleaned.get("principal_arn"):
            self.add_error("principal_arn", "Name the user or role this file describes.")
        return cleaned

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            check_size(size=upload.size)  # before anything reads the file
        except ImportRejected as exc:
            raise ValidationError(str(exc)) from None
        return upload

    def kind_choices(self) -> list[dict]:
        """The kinds with the command that makes each file, for the template."""
        chosen = self["kind"].value()
        return [
            {
                "value": value,
                "label": label,
                "command": IMPORT_COMMANDS[value],
                "checked": value == chosen,
                "id": f"id_kind_{index}",
            }
            for index, (value, label) in enumerate(self.fields["kind"].choices)
        ]
