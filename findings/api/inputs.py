"""What the JSON API reads: request bodies and query parameters, as typed schemas.

Their validators word each field's error the way the API always has ("Must be a string.");
errors.py gathers them into one 400. What the domain checks itself (an empty application, an
unknown decision kind) is left for it to word, so an absent field reads as empty here.
"""

import re
from datetime import date
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Field, Schema
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from accounts.models import User
from findings import models
from findings.aws.session import ROLE_ARN, ROLE_ARN_PATTERN
from findings.detection.selectors import SORTS, STATUSES
from findings.reviews.releases import MAX_RELEASE_ROLE_ARNS
from findings.reviews.services import (
    MAX_COMMENT_LENGTH,
    MIN_ATTESTATION_LENGTH,
    MIN_SERIOUS_JUSTIFICATION_LENGTH,
)

MAX_ROLE_ARNS = MAX_RELEASE_ROLE_ARNS
MAX_PAGE_SIZE = 200
# Far beyond any real list, and small enough that no page's offset overflows PostgreSQL's bigint.
MAX_PAGE = 1_000_000_000
MAX_ARN_LENGTH = 2048
# Not blank: what the domain's .strip() checks, as a JSON Schema pattern.
NOT_BLANK = r"\S"
# At least MIN_ATTESTATION_LENGTH characters between the first and last that are not blank.
ATTESTATION_PATTERN = rf"^\s*\S[\s\S]{{{MIN_ATTESTATION_LENGTH - 2},}}\S\s*$"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
DATE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DIGITS = re.compile(r"[0-9]+")

# --- Fields -----------------------------------------------------------------------------------


def parse_text(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PydanticCustomError("string", "Must be a string.")
    if "\x00" in value:
        raise PydanticCustomError("nul", "Must not contain NUL characters.")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PydanticCustomError("unicode", "Must be valid Unicode text.") from None
    return value


def choice(values: list[str]) -> Any:
    """A query parameter: one of `values`, or None when absent or empty."""

    def check(value) -> str | None:
        value = parse_text(value).strip()
        if value and value not in values:
            raise PydanticCustomError(
                "choice", "Choose one of: {choices}.", {"choices": ", ".join(values)}
            )
        return value or None

    # Empty is documented as a value: it means no filter, as a form's "any" sends it.
    return Annotated[str | None, BeforeValidator(check), WithJsonSchema({"enum": [*values, ""]})]


def whole_number(*, default: int | None, maximum: int | None = None) -> Any:
    """A query parameter: a whole number from 1 (up to `maximum`), or `default` when absent.
    Present but blank (`?page=`) is no number: refused, as the documented `integer` says."""

    def check(value) -> int | None:
        raw = parse_text(value).strip()
        # ASCII digits only: str.isdecimal() also takes other scripts' digits, which the
        # documented `integer` does not.
        if (
            not DIGITS.fullmatch(raw)
            or len(raw) > 18  # int() of thousands of digits is refused or slow
            or int(raw) < 1
            or (maximum and int(raw) > maximum)
        ):
            limit = f" up to {maximum}" if maximum else ""
            raise PydanticCustomError(
                "number", "Must be a whole number from 1{limit}.", {"limit": limit}
            )
        return int(raw)

    schema = {"type": "integer", "minimum": 1} | ({"maximum": maximum} if maximum else {})
    return Annotated[int | None, BeforeValidator(check), WithJsonSchema(schema)]


def short_text(*, maximum: int, required: bool = False) -> Any:
    """A string of at most `maximum` characters; `required`: not blank either (the domain
    says so; the schema says it too, so clients learn it from the document)."""

    def check(value) -> str:
        text = parse_text(value)
        if len(text) > maximum:
            raise PydanticCustomError(
                "too_long", "At most {maximum} characters.", {"maximum": maximum}
            )
        return text

    schema = {"type": "string", "maxLength": maximum}
    if required:
        schema |= {"minLength": 1, "pattern": NOT_BLANK}
    return Annotated[str, BeforeValidator(check), WithJsonSchema(schema)]


def parse_role_arns(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(arn, str) for arn in value):
        raise PydanticCustomError("strings", "Must be a list of strings.")
    if not all(arn.strip() for arn in value):
        raise PydanticCustomError("blank", "Role ARNs must not be empty.")
    if len(value) > MAX_ROLE_ARNS:
        raise PydanticCustomError(
            "too_many", "List at most {maximum} role ARNs per release.", {"maximum": MAX_ROLE_ARNS}
        )
    if malformed := [arn for arn in value if not ROLE_ARN.match(arn)]:
        raise PydanticCustomError(
            "role_arn",
            "Not a role ARN (arn:aws:iam::123456789012:role/name): {arn}",
            {"arn": repr(malformed[0][:100])},
        )
    return value


def parse_decision_kind(value) -> str:
    kind = parse_text(value)
    if not kind:
        choices = ", ".join(models.Decision.Kind.values)
        raise PydanticCustomError("choice", "Choose one of: {choices}.", {"choices": choices})
    return kind


def parse_day(value) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and DATE_FORMAT.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("date", "Must be a date written YYYY-MM-DD.")


def parse_integer_id(value) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise PydanticCustomError("integer", "Must be an integer id.")
    return value


def parse_person(value) -> User | None:
    """The person an email address names, for a field that says whom to involve."""
    address = parse_text(value).strip()
    if not address:
        return None
    try:
        validate_email(address)
    except DjangoValidationError:
        raise PydanticCustomError("email", "Enter a valid email address.") from None
    found = User.objects.with_email(address).first()
    if found is None:
        raise PydanticCustomError(
            "person", "No one with the email {address} uses iamreview.", {"address": address}
        )
    return found


# --- Types ------------------------------------------------------------------------------------

Text = Annotated[str, BeforeValidator(parse_text)]
RoleArns = Annotated[
    list[str],
    BeforeValidator(parse_role_arns),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "pattern": ROLE_ARN_PATTERN},
            "minItems": 1,
            "maxItems": MAX_ROLE_ARNS,
        }
    ),
]
DecisionKind = Annotated[
    str,
    BeforeValidator(parse_decision_kind),
    WithJsonSchema({"enum": models.Decision.Kind.values}),
]
Day = Annotated[
    date | None,
    BeforeValidator(parse_day),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}),
]
Person = Annotated[
    User | None,
    PlainValidator(parse_person),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "email"}, {"type": "null"}]}),
]
IntegerId = Annotated[
    int | None,
    BeforeValidator(parse_integer_id),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "null"}]}),
]


# --- Requests ---------------------------------------------------------------------------------


class JsonBody(BaseModel):
    """A JSON object: unknown fields are named; absent ones are read as null (so as "", [])."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class ReleaseRequest(JsonBody):
    model_config = ConfigDict(
        json_schema_extra={"required": ["application", "version", "role_arns"]}
    )

    application: short_text(maximum=200, required=True) = None
    version: short_text(maximum=100, required=True) = None
    role_arns: RoleArns = None
    notes: short_text(maximum=5000) = None  # as the web form's


def when_deciding(kinds: list[str], *, then: dict) -> dict:
    """A JSON Schema rule: for these decision kinds, `then` applies too."""
    return {
        "if": {"properties": {"decision": {"enum": kinds}}, "required": ["decision"]},
        "then": then,
    }


class DecisionRequest(JsonBody):
    # What the domain requires of each kind (findings.reviews.services.DecisionInput), so that
    # the document refuses what the API refuses; only the expiry's window (from today, at most a
    # year) and who may be delegated to depend on the day and the people, and are described.
    model_config = ConfigDict(
        json_schema_extra={
            "required": ["decision"],
            "allOf": [
                when_deciding(
                    ["keep", "accept_risk", "false_positive", "delegate"],
                    then={
                        "required": ["justification"],
                        "properties": {"justification": {"type": "string", "pattern": NOT_BLANK}},
                    },
                ),
                when_deciding(
                    ["accept_risk"],
                    then={
                        "required": ["expires_on"],
                        "properties": {"expires_on": {"type": "string", "format": "date"}},
                    },
                ),
                when_deciding(
                    ["delegate"],
                    then={
                        "required": ["delegate_to"],
                        "properties": {"delegate_to": {"type": "string", "format": "email"}},
                    },
                ),
            ],
        }
    )

    decision: DecisionKind = None
    justification: short_text(maximum=MAX_COMMENT_LENGTH) = Field(
        None,
        description="Required for keep, accept_risk, false_positive and delegate. For keep, "
        "accept_risk and false_positive on a critical or high item, at least "
        f"{MIN_SERIOUS_JUSTIFICATION_LENGTH} characters once surrounding blanks are stripped "
        "(400 otherwise).",
    )
    expires_on: Day = Field(
        None, description="accept_risk only: in the future, at most a year away."
    )
    delegate_to: Person = Field(None, description="delegate only: an active reviewer.")
    previous_decision_id: IntegerId = Field(
        None,
        description="The item's latest decision as you saw it; omit when it had none. If "
        "someone decided meanwhile the answer is 409 with their decision.",
    )


def parse_digest(value) -> str:
    """A summary's digest (64 lowercase hex digits), or "" when absent: the domain says to read
    the summary first."""
    text = parse_text(value)
    if text and not SHA256_HEX.fullmatch(text):
        raise PydanticCustomError(
            "digest",
            "Must be the digest of the sign-off summary (64 lowercase hex digits), as "
            "GET /api/cycles/{id}/sign-off-summary gives it.",
        )
    return text


Digest = Annotated[
    str,
    BeforeValidator(parse_digest),
    WithJsonSchema({"type": "string", "pattern": SHA256_HEX.pattern}),
]


class SignOffRequest(JsonBody):
    model_config = ConfigDict(json_schema_extra={"required": ["attestation", "summary_hash"]})

    attestation: short_text(maximum=MAX_COMMENT_LENGTH) = Field(
        None,
        description=f"What the approver attests to: at least {MIN_ATTESTATION_LENGTH} "
        "characters once surrounding blanks are stripped.",
        json_schema_extra={"minLength": MIN_ATTESTATION_LENGTH, "pattern": ATTESTATION_PATTERN},
    )
    summary_hash: Digest = Field(
        None,
        description="The digest of the sign-off summary the approver read: read it first "
        "(GET /api/cycles/{id}/sign-off-summary) and send its `digest`. Without it nothing is "
        "signed (400); when the summary has changed since, nothing is signed either (409, with "
        "the current summary).",
    )


# --- Query parameters -------------------------------------------------------------------------


class CycleQuery(Schema):
    kind: choice(models.ReviewCycle.Kind.values) = Field(None, description="Only this kind.")
    state: choice(models.ReviewCycle.State.values) = Field(None, description="Only this state.")
    application: short_text(maximum=200) = Field(
        None,
        description="Only release cycles of this application: the whole name, in any case "
        "('Checkout' and 'checkout' are one application, as registering a release reads them).",
    )
    version: short_text(maximum=100) = Field(
        None, description="Only release cycles of this version: the whole version, as registered."
    )


class EvidenceQuery(Schema):
    format: choice(["json", "zip"]) = Field(
        None,
        description="json (default) or zip: items.csv, decisions.csv, cycle.json and "
        "manifest.json with each file's SHA-256.",
    )


class FindingQuery(Schema):
    account: str = Field("", description="12-digit AWS account id.")
    check: str = Field("", description="Check id, or access-analyzer:<type>.")
    severity: choice(models.Severity.values) = Field(None, description="Only this severity.")
    status: choice(STATUSES) = Field(None, description="Default open.")
    q: str = Field("", description="Text in the resource ARN, name or title.")
    sort: choice(list(SORTS)) = Field(None, description="Default severity.")


def principal_arn(value) -> str:
    raw = parse_text(value)
    value = raw.strip()
    if not value:
        raise PydanticCustomError("required", "Give the ARN of an IAM user or role.")
    # The length as sent, blanks included, as the document's maxLength counts it.
    if not value.startswith("arn:") or len(raw) > MAX_ARN_LENGTH:
        raise PydanticCustomError("arn", "Must be the ARN of an IAM user or role.")
    return value


class SuggestionQuery(Schema):
    arn: Annotated[
        str,
        BeforeValidator(principal_arn),
        WithJsonSchema(
            # Surrounding blanks are ignored, as in the browser.
            {"type": "string", "pattern": r"^\s*arn:", "maxLength": MAX_ARN_LENGTH}
        ),
    ] = Field(..., description="ARN of the IAM user or role.")
    unused_days: whole_number(default=None, maximum=400) = Field(
        None, description="Days without use after which a service counts as unused."
    )
