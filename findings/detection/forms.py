"""Forms of the findings pages: they parse input; detection.exclusions validates and acts."""

from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from findings.detection.exclusions import (
    KIND_FIELDS,
    MAX_DAYS,
    MIN_REASON_LENGTH,
    TARGET_FIELDS,
)
from findings.detection.selectors import check_choices
from findings.models import AwsAccount, Exclusion, Finding

DEFAULT_DAYS = 90


class ExclusionForm(forms.Form):
    """Field names match create_exclusion's arguments, so its errors land on the right field."""

    kind = forms.ChoiceField(
        label="Exclude", choices=Exclusion.Kind.choices, widget=forms.RadioSelect
    )
    finding = forms.ModelChoiceField(
        queryset=Finding.objects.all(), required=False, widget=forms.HiddenInput
    )
    arn_pattern = forms.CharField(
        label="Resource ARN pattern",
        max_length=2048,
        required=False,
        help_text="Shell-style: * matches anything, ? one character. "
        "Example: arn:aws:iam::*:role/legacy-*",
        widget=forms.TextInput(attrs={"placeholder": "arn:aws:iam::123456789012:role/legacy-*"}),
    )
    account = forms.ModelChoiceField(
        label="AWS account",
        queryset=AwsAccount.objects.all(),
        required=False,
        empty_label="Choose an account",
    )
    tag_key = forms.CharField(
        label="Tag key",
        max_length=128,
        required=False,
        help_text="A tag never sets a critical finding aside: whoever may tag a principal, "
        "itself included, could hide it.",
    )
    tag_value = forms.CharField(
        label="Tag value", max_length=256, required=False, help_text="Empty: any value."
    )
    check_id = forms.ChoiceField(
        label="Only for the check",
        required=False,
        help_text="Empty: every check.",
    )
    reason = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "minlength": MIN_REASON_LENGTH}),
        help_text=f"Why these findings may be set aside, in at least {MIN_REASON_LENGTH} "
        "characters: a ticket, a plan, a date. Auditors read this.",
    )
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("email"),
        required=False,
        help_text="Who answers for this exclusion and renews or ends it.",
    )
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=f"At most a year away. The findings come back the day after. (Default: "
        f"{DEFAULT_DAYS} days.)",
    )

    # The second step: the preview this submission confirms, and the confirmation that it sets
    # critical findings aside (create_exclusion refuses those without it).
    previewed = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)
    confirm_critical = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["check_id"].choices = [("", "Every check")] + check_choices()
        today = timezone.localdate()
        self.fields["expires_on"].widget.attrs.update(
            min=(today + timedelta(days=1)).isoformat(),
            max=(today + timedelta(days=MAX_DAYS)).isoformat(),
        )
        self.fields["owner"].label_from_instance = lambda user: user.display_name

    @classmethod
    def initial_for(cls, *, user, finding: Finding | None, arn_pattern: str) -> dict:
        initial = {
            "kind": Exclusion.Kind.ARN_PATTERN,
            "owner": user.pk,
            "expires_on": timezone.localdate() + timedelta(days=DEFAULT_DAYS),
        }
        if finding is not None:
            initial.update(kind=Exclusion.Kind.FINDING, finding=finding.pk)
        elif arn_pattern:
            initial["arn_pattern"] = arn_pattern
        return initial

    def arguments(self) -> dict:
        """cleaned_data as preview_exclusion's keyword arguments (create_exclusion takes these,
        the person and the confirmation).

        The page hides the fields of the kinds not chosen, so their values are dropped here
        rather than reported as errors nobody could see.
        """
        data = dict(self.cleaned_data)
        kept = KIND_FIELDS.get(data["kind"], set())
        for name in TARGET_FIELDS - kept:
            data[name] = None if name in ("finding", "account") else ""
        if data["kind"] == Exclusion.Kind.FINDING:
            data["check_id"] = ""
        return {
            "kind": data["kind"],
            "finding": data["finding"],
            "arn_pattern": data["arn_pattern"],
            "account": data["account"],
            "tag_key": data["tag_key"],
            "tag_value": data["tag_value"],
            "check_id": data["check_id"],
            "reason": data["reason"],
            "owner": data["owner"],
            "expires_on": data["expires_on"],
        }
