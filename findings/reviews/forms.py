"""Forms of the review pages: they parse input; findings.reviews.services validates and acts.

Field names match the domain's error keys (decision, justification, expires_on, delegate_to,
attestation, application, version, role_arns), so an `Invalid` lands on the right field.
"""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.utils import timezone

from accounts.models import User
from findings.models import AwsAccount, Decision, ReviewCycle
from findings.reviews.services import (
    DEFAULT_ATTESTATION,
    DEFAULT_RISK_ACCEPTANCE_DAYS,
    MAX_COMMENT_LENGTH,
    MIN_ATTESTATION_LENGTH,
    MIN_SERIOUS_JUSTIFICATION_LENGTH,
    default_risk_expiry,
    one_year_after,
)
from iamreview.input_guard import parse_id
from iamreview.widgets import (
    QuickCheckboxInput,
    QuickDateInput,
    QuickHiddenInput,
    QuickSelect,
    QuickTextarea,
)

# The longest justification or bulk comment.
MAX_COMMENT = MAX_COMMENT_LENGTH
# Bulk decisions: delegating many items at once is what assignment is for.
BULK_KINDS = [
    (Decision.Kind.KEEP.value, "Keep"),
    (Decision.Kind.REMEDIATE.value, "Remediate"),
    (Decision.Kind.ACCEPT_RISK.value, "Accept risk"),
    (Decision.Kind.FALSE_POSITIVE.value, "False positive"),
]
DECISION_HELP = {
    "keep": "The access is needed as it is.",
    "remediate": "Remove or reduce it; verified against the next collections.",
    "accept_risk": "Keep it for now; it comes back for review at the expiry.",
    "false_positive": "The finding is wrong; its findings are excluded for a year.",
    "delegate": "Hand the item to another reviewer.",
}
# What the keyboard help (keys_help.html) says of the limits, on the queue and item pages.
KEYS_HELP = {
    "default_risk_days": DEFAULT_RISK_ACCEPTANCE_DAYS,
    "min_serious_justification": MIN_SERIOUS_JUSTIFICATION_LENGTH,
}
CYCLE_KINDS = [
    (ReviewCycle.Kind.MONTHLY.value, ReviewCycle.Kind.MONTHLY.label),
    (ReviewCycle.Kind.QUARTERLY.value, ReviewCycle.Kind.QUARTERLY.label),
]


def expiry_bounds() -> dict:
    today = timezone.localdate()
    return {
        "min": (today + timedelta(days=1)).isoformat(),
        "max": one_year_after(day=today).isoformat(),
    }


def add_domain_errors(form: forms.Form, errors: dict[str, str]) -> None:
    for name, message in errors.items():
        form.add_error(name if name in form.fields else None, message)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label="Decision", choices=Decision.Kind.choices, widget=forms.RadioSelect
    )
    justification = forms.CharField(
        label="Justification",
        required=False,
        max_length=MAX_COMMENT,
        widget=QuickTextarea(attrs={"rows": 2}),
        help_text="Why. Auditors read this. Required except for “Remediate”; at least "
        f"{MIN_SERIOUS_JUSTIFICATION_LENGTH} characters on critical and high items.",
    )
    expires_on = forms.DateField(
        label="Risk accepted until",
        required=False,
        widget=QuickDateInput(attrs={"type": "date"}),
        help_text=f"Filled in {DEFAULT_RISK_ACCEPTANCE_DAYS} days from today; at most a year away.",
    )
    delegate_to = forms.TypedChoiceField(
        label="Delegate to", required=False, coerce=int, empty_value=None, widget=QuickSelect
    )
    attach_plan = forms.BooleanField(
        label="Attach the right-sizing suggestion as the remediation plan",
        required=False,
        widget=QuickCheckboxInput,
        help_text="Verified once the policies collected next are equal to it or narrower.",
    )
    # The decision the person saw (empty: none yet); the domain compares it with the latest.
    expected_latest_id = forms.IntegerField(required=False, widget=QuickHiddenInput)

    def __init__(self, *args, reviewers: list[tuple[int, str]] = (), item_id: int, **kwargs):
        """`reviewers`: (id, name) of whom the item may be delegated to (reviewer_choices)."""
        kwargs.setdefault("auto_id", f"item-{item_id}-%s")
        super().__init__(*args, **kwargs)
        self.fields["delegate_to"].choices = [("", "Choose a reviewer"), *reviewers]
        self.fields["expires_on"].widget.attrs.update(expiry_bounds())
        # Choosing "Accept risk" (3 on the keyboard) finds a date there: the justification is
        # then all that is left to type. Only the choice of "Accept risk" stores it.
        self.fields["expires_on"].initial = default_risk_expiry(day=timezone.localdate())

    def delegate(self):
        """The person chosen to delegate to (one of the choices: the field validated it)."""
        pk = self.cleaned_data.get("delegate_to")
        return User.objects.filter(pk=pk).first() if pk else None


class BulkForm(forms.Form):
    """One decision and one comment for the selected items, or an assignment of them.

    The selected items come as `items` checkboxes from the table (see `selected_ids`)."""

    decision = forms.ChoiceField(label="Decision", choices=BULK_KINDS, required=False)
    justification = forms.CharField(label="Comment", required=False, max_length=MAX_COMMENT)
    expires_on = forms.DateField(
        label="Until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    seen_at = forms.DateTimeField(required=False, widget=forms.HiddenInput)
    assignee = forms.CharField(required=False)
    back = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires_on"].widget.attrs.update(expiry_bounds())


class SignOffForm(forms.Form):
    attestation = forms.CharField(
        label="Attestation",
        initial=DEFAULT_ATTESTATION,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"What you attest to, in at least {MIN_ATTESTATION_LENGTH} characters: the "
        "standard text, or your own words.",
    )
    # The sign-off summary the approver read (the page shows it with its hash). The domain
    # requires it (and says so after checking that they may sign at all), and refuses when
    # the cycle has changed since.
    summary_hash = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label="I confirm this attestation and sign the cycle off",
        error_messages={"required": "Tick the box to confirm the attestation."},
    )


class OpenCycleForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=CYCLE_KINDS, widget=forms.RadioSelect)
    scope = forms.ChoiceField(
        label="Scope",
        choices=[("all", "Every enabled account"), ("selected", "Selected accounts")],
        initial="all",
        widget=forms.RadioSelect,
    )
    accounts = forms.ModelMultipleChoiceField(
        label="Accounts",
        queryset=AwsAccount.objects.filter(enabled=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    title = forms.CharField(
        label="Title", required=False, max_length=300, help_text="Empty: a title from the kind."
    )
    # Set when the person has been told that a cycle of this kind is open for these accounts.
    open_another = forms.BooleanField(
        label="Open another anyway (their items are reviewed twice)", required=False
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "open-%s")
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        if data.get("scope") == "selected" and not data.get("accounts"):
            self.add_error("accounts", "Choose at least one account, or every enabled account.")
        return data

    def scope_accounts(self) -> list[AwsAccount] | None:
        if self.cleaned_data["scope"] == "all":
            return None
        return list(self.cleaned_data["accounts"])


class ReleaseForm(forms.Form):
    application = forms.CharField(label="Application", max_length=200, required=False)
    version = forms.CharField(label="Version", max_length=100, required=False)
    role_arns = forms.CharField(
        label="Role ARNs",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "arn:aws:iam::123456789012:role/checkout-api"}
        ),
        help_text="One per line: the roles the release uses.",
    )
    notes = forms.CharField(
        label="Notes",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What changed in this release (optional).",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "release-%s")
        super().__init__(*args, **kwargs)

    def role_arn_list(self) -> list[str]:
        return [
            line.strip() for line in self.cleaned_data["role_arns"].splitlines() if line.strip()
        ]


# --- Queue filters ----------------------------------------------------------------------------

SORTS = {
    "severity": ("severity_rank", "title", "id"),
    "title": ("title", "id"),
    "account": ("account__name", "account__account_id", "severity_rank", "title", "id"),
}
SORT_LABELS = {"severity": "Severity", "title": "Title", "account": "Account"}
STATUS_LABELS = {"": "All items", "undecided": "Undecided", "decided": "Decided"}


@dataclass(frozen=True)
class QueueFilters:
    account: str = ""
    severity: str = ""
    assignee: str = ""  # "", "me", "unassigned" or a user id
    status: str = ""
    sort: str = "severity"

    @classmethod
    def from_params(cls, params) -> "QueueFilters":
        def pick(name: str, allowed=None) -> str:
            value = (params.get(name) or "").strip()[:40]
            if allowed is not None and value not in allowed:
                return getattr(cls, name)
            return value

        assignee = pick("assignee")
        if assignee not in ("", "me", "unassigned") and parse_id(assignee) is None:
            assignee = ""
        account = pick("account")
        return cls(
            account=account if parse_id(account) is not None else "",
            severity=pick("severity", {"", "critical", "high", "medium", "low", "none"}),
            assignee=assignee,
            status=pick("status", STATUS_LABELS),
            sort=pick("sort", SORTS),
        )

    def query(self, **changes) -> str:
        """The query string of these filters (defaults left out), with `changes` applied."""
        params = {**self.__dict__, **changes}
        params = {k: v for k, v in params.items() if v and v != getattr(QueueFilters, k, None)}
        return urlencode(params)
