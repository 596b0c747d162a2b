"""The limits a person's input to a review is held to, shared by the services, the pages' forms
and the API: justifications, comments, attestations, how long a risk may be accepted."""

from datetime import date, timedelta


def one_year_after(*, day: date) -> date:
    """The same date next year (28 February for 29 February): how long a risk may be accepted.
    Not 365 days, which refuses exactly one year whenever a 29 February falls inside it."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


DEFAULT_ATTESTATION = (
    "I have reviewed this cycle's full population and the decisions recorded for it. To the "
    "best of my knowledge the access that remains is appropriate and the exceptions are "
    "justified."
)
# An attestation is a sentence the approver stands by, not "ok": at least this many characters
# once surrounding blanks are stripped (the form fills in DEFAULT_ATTESTATION).
MIN_ATTESTATION_LENGTH = 10
# The longest justification, comment or attestation, on every page and in the API.
MAX_COMMENT_LENGTH = 5000
# The expiry the decision form proposes for an accepted risk (the reviewer may change it,
# within one_year_after).
DEFAULT_RISK_ACCEPTANCE_DAYS = 90
# Keeping, accepting or dismissing a critical or high item needs a reason an auditor can read.
SERIOUS_SEVERITIES = ("critical", "high")
MIN_SERIOUS_JUSTIFICATION_LENGTH = 20
JUSTIFIED_KINDS = ("keep", "accept_risk", "false_positive")


def default_risk_expiry(*, day: date) -> date:
    """The expiry proposed for a risk accepted on `day`."""
    return day + timedelta(days=DEFAULT_RISK_ACCEPTANCE_DAYS)


def justification_too_short(*, kind: str, justification: str, severity: str) -> bool:
    """Whether `justification` is too short for deciding `kind` on an item of `severity`."""
    text = justification.strip()
    return (
        kind in JUSTIFIED_KINDS
        and severity in SERIOUS_SEVERITIES
        and bool(text)
        and len(text) < MIN_SERIOUS_JUSTIFICATION_LENGTH
    )
