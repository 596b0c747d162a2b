"""Show evidence readably: dates as <time> elements, absent dates as the reason in words.

AWS writes a reason instead of a date where there is none (`no_information`, `N/A`,
`not_supported`); "never used" and "no such credential" are different facts and must read
differently. An empty role last-used date means "not used within the ~400 days AWS tracks".
"""

import re
from datetime import UTC, datetime

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from findings.inventory.selectors import REASON_WORDS
from findings.policy.documents import pretty
from iamreview.rowhtml import escaped

register = template.Library()

ROLE_NOT_USED = "Not used within AWS's ~400-day tracking window"
NEVER_USED = "never used"
AWS_STATUS_WORDS = {
    "ACTIVE": "Active in AWS",
    "ARCHIVED": "Archived in AWS",
    "RESOLVED": "Resolved in AWS",
}


def as_datetime(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


class _Unit:
    """One of `timesince`'s units as plain English ("1 day", "3 days"), where Django's own
    are lazy translations: with translation off (USE_I18N) they read the same and cost a
    third of them."""

    __slots__ = ("one", "many")

    def __init__(self, unit: str) -> None:
        self.one, self.many = f"%d {unit}", f"%d {unit}s"

    def __mod__(self, values: dict) -> str:
        count = values["num"]
        return (self.one if count == 1 else self.many) % count


PAST_UNITS = {unit: _Unit(unit) for unit in ("year", "month", "week", "day", "hour", "minute")}


def ago(moment_: datetime) -> str:
    """What the `naturaltime` filter says of `moment_` ("3\xa0weeks, 2\xa0days ago"), the
    same words. A date a day or more past (most of what the pages show: last uses, creation
    dates) goes straight to Django's `timesince` with plain units; anything else, or with
    translation on, through `naturaltime` itself. An inventory page shows a hundred dates."""
    if not settings.USE_I18N and moment_.tzinfo is not None:
        now = datetime.now(UTC)
        if moment_ < now and (now - moment_).days:
            return f"{timesince(moment_, now, time_strings=PAST_UNITS)} ago"
    return naturaltime(moment_)


@register.filter
def duration_words(delta) -> str:
    """A lockout's length in plain words: "15 minutes", "1 hour", "1 hour 30 minutes"."""
    minutes = max(1, round(delta.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


@register.filter
def reason_words(reason: str | None) -> str:
    return REASON_WORDS.get(reason or "", reason or "")


@register.simple_tag
def moment(value, reason: str = "", absent: str = "", precise: bool = False):
    """A date humanized, with its ISO value in a <time> element; or why there is none.

    `absent` is what to say when there is neither a date nor a reason.
    """
    moment_ = as_datetime(value)
    if moment_ is None:
        words = reason_words(reason) if reason else (absent or "none recorded")
        return format_html('<span class="absent">{}</span>', words)
    # An ISO date is digits and separators: nothing to escape. Written with an f-string, as
    # the inventory's rows show a hundred of these a page (format_html cost as much again).
    iso = moment_.isoformat(timespec="seconds")
    words = escaped(ago(moment_))
    if precise:
        words = f'{moment_:%Y-%m-%d} <span class="muted">({words})</span>'
    return mark_safe(f'<time datetime="{iso}" title="{iso}">{words}</time>')  # noqa: S308


@register.simple_tag
def last_used(active: bool, value, reason: str = ""):
    """A key's or password's last use: when it exists, AWS's `N/A` means it was never used.

    (The credential report writes `N/A` both for "no key" and for "an active key never used".)
    """
    if as_datetime(value) is None and active and reason in ("", "N/A"):
        return format_html('<span class="absent">{}</span>', NEVER_USED)
    if as_datetime(value) is None and active is False:
        # No such credential, whatever the column says (moto writes `not_supported` where AWS
        # writes `N/A`; "not supported" is the root user's word).
        return format_html('<span class="absent">{}</span>', "no such credential")
    return moment(value, reason, absent="no such credential", precise=True)


@register.filter
def pretty_json(document) -> str:
    if document is None:
        return ""
    if isinstance(document, dict | list):
        return pretty(document=document)  # json.dumps underneath: lists print as well
    return str(document)


@register.filter
def aws_status_words(status: str) -> str:
    return AWS_STATUS_WORDS.get(status, status.title() + " in AWS" if status else "")


SOURCE_WORDS = {
    "POLICY": "the resource's own policy",
    "BUCKET_ACL": "the bucket's access control list",
    "S3_ACCESS_POINT": "an S3 access point",
    "S3_ACCESS_POINT_ACCOUNT": "an account's S3 access point",
}
PRINCIPAL_WORDS = {
    "AWS": "AWS account or principal",
    "Federated": "Federated identity",
    "Service": "AWS service",
    "CanonicalUser": "Canonical user",
}


@register.filter
def source_words(source_type: str) -> str:
    """How Access Analyzer says the access is granted, in words."""
    return SOURCE_WORDS.get(source_type, source_type)


@register.filter
def principal_words(kind: str) -> str:
    return PRINCIPAL_WORDS.get(kind, kind)


@register.filter
def sorted_items(mapping) -> list[tuple]:
    """A dict from AWS as (key, value) pairs, sorted by key. A template's `tags.items` looks
    the key up first: a tag named `items` (anyone who may tag their own role can add one)
    stood in for the dict's own method, and the page showed no tags or failed."""
    if not isinstance(mapping, dict):
        return []
    return sorted(mapping.items(), key=lambda pair: str(pair[0]))


@register.filter
def yes_no(value) -> str:
    if value is None:
        return "unknown"
    return "Yes" if value else "No"


# --- Evidence facts ---------------------------------------------------------------------------

LABELS = {
    "scps": "Organization SCPs weighed",
    "blocked_by_scps": "Ways the SCPs block",
    "why": "Why",
    "active_keys": "Active root access keys",
    "mfa_active": "MFA active",
    "password_enabled": "Console password",
    "password_last_used": "Password last used",
    "password_last_changed": "Password last changed",
    "user_creation_time": "User created",
    "key": "Access key",
    "active": "Active",
    "last_rotated": "Created or last rotated",
    "last_used": "Last used",
    "last_used_service": "Last used with service",
    "last_used_region": "Last used in region",
    "age_days": "Age",
    "last_activity": "Last activity",
    "credentials": "Credentials",
    "created": "Created",
    "path": "Path",
    "services": "Services granted with a wildcard",
    "count": "Unused services",
    "region": "Region",
    "used": "Used within the window",
    "window_days": "Recent-use window",
    "finding_id": "Access Analyzer finding ID",
    "analyzer": "Analyzer",
    "aws_status": "Status in AWS",
    "resource_owner_account": "Resource owner account",
    "created_at": "Created in AWS",
    "updated_at": "Last updated in AWS",
    "access_key_1_last_used": "Access key 1 last used",
    "access_key_2_last_used": "Access key 2 last used",
    "methods": "Ways to escalate",
    "library": "IAM action data",
}
# Shown in their own sections, or folded into the fact they explain.
SECTION_KEYS = {"grants", "unused_services", "keys", "details", "statement"}
# Left out when empty: they only add to a fact shown beside them.
OPTIONAL_KEYS = {"last_used_service", "last_used_region", "region", "analyzer"}
# Facts in reading order; any others follow in the order the evidence has them.
ORDER = [
    "why",
    "key",
    "active",
    "last_rotated",
    "last_used",
    "last_used_service",
    "last_used_region",
    "finding_id",
    "aws_status",
    "resource_owner_account",
    "created_at",
    "updated_at",
]
DAY_KEYS = {"age_days", "window_days"}


def label_for(key: str, evidence: dict | None = None) -> str:
    if key == "path" and evidence is not None and "methods" in evidence:
        return "Chain of roles to an administrator"  # an escalation's, not an IAM path
    return LABELS.get(key, key.replace("_", " ").capitalize())


# Names kept as written in a method's words (and how they read).
METHOD_NAMES = {
    "EC2": "EC2",
    "SageMaker": "SageMaker",
    "CodeBuild": "CodeBuild",
    "CloudFormation": "CloudFormation",
    "DataPipeline": "Data Pipeline",
    "AppRunner": "App Runner",
    "Lambda": "Lambda",
    "Glue": "Glue",
    "Dynamo": "DynamoDB",
    "Ecs": "ECS",
    "Ssh": "SSH",
}
_METHOD_WORD = re.compile("|".join([*METHOD_NAMES, r"[A-Z][a-z]*", r"\d+"]))


def method_words(method_id: str) -> str:
    """A method's id as words: `PassExistingRoleToNewLambdaThenInvoke` reads "Pass existing
    role to new Lambda then invoke"."""
    words = [METHOD_NAMES.get(w) or w.lower() for w in _METHOD_WORD.findall(method_id)]
    if not words:
        return method_id
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def escalation_methods_html(methods: list) -> str:
    """Each way to escalate: what it is in words, the actions it takes, whom it reaches (by
    name, the ARN on hover) and where it is published."""
    rows = []
    for method in methods:
        if not isinstance(method, dict):
            continue
        targets = [t for t in method.get("targets") or [] if isinstance(t, str)]
        reached = format_html_join(
            ", ",
            '<span title="{}">{}</span>',
            ((t, t.split(":", 5)[-1] if t.startswith("arn:") else t) for t in targets),
        )
        total = method.get("targets_total")
        if isinstance(total, int) and total > len(targets):
            reached = format_html("{} and {} more", reached, total - len(targets))
        actions = format_html_join(
            ", ", "<code>{}</code>", ((str(a),) for a in method.get("actions") or [])
        )
        removes = [str(label) for label in method.get("removes") or []]
        rows.append(
            (
                method_words(str(method.get("method", ""))),
                " (only under a condition)" if method.get("conditional") else "",
                actions or "none recorded",
                reached or "none recorded",
                format_html("; takes off the Deny in {}", ", ".join(removes)) if removes else "",
                str(method.get("source", "")),
            )
        )
    return format_html(
        '<ul class="plain">{}</ul>',
        format_html_join(
            "",
            "<li><strong>{}</strong>{}<br>with {}; reaches {}{}"
            '<br><span class="help">{}</span></li>',
            rows,
        ),
    )


def blocked_methods_html(blocked: list) -> str:
    """Ways to escalate the organization's SCPs block, each with the SCP that blocks it."""
    rows = [
        (method_words(str(item.get("method", ""))), str(item.get("why", "")))
        for item in blocked
        if isinstance(item, dict)
    ]
    if not rows:
        return format_html('<span class="absent">{}</span>', "none")
    return format_html(
        '<ul class="plain">{}</ul>',
        format_html_join("", "<li><strong>{}</strong>: {}</li>", rows),
    )


def fact_value(key: str, value, evidence: dict, resource_type: str):
    if key == "methods" and isinstance(value, list):
        return escalation_methods_html(value)
    if key == "blocked_by_scps" and isinstance(value, list):
        return blocked_methods_html(value)
    if key == "path" and value is None and "methods" in evidence:
        return format_html('<span class="absent">{}</span>', "none found")
    if key == "last_used" and resource_type == "role" and value is None:
        return format_html('<span class="absent">{}</span>', ROLE_NOT_USED)
    if key == "last_used" and "key" in evidence:
        return last_used(evidence.get("active"), value, evidence.get("last_used_reason") or "")
    if key == "password_last_used" and "password_enabled" in evidence:
        reason = evidence.get("password_last_used_reason") or ""
        return last_used(evidence["password_enabled"], value, reason)
    if key.startswith("access_key_") and key.endswith("_last_used"):
        return last_used(True, value, "")
    if key == "last_activity" and value is None:
        return format_html('<span class="absent">{}</span>', "no credential ever used")
    if key in DAY_KEYS:
        return f"{value} days"
    if isinstance(value, bool):
        return yes_no(value)
    if as_datetime(value) is not None:
        return moment(value, precise=True)
    if value is None:
        reason = evidence.get(f"{key}_reason")
        return moment(None, reason or "", absent="none recorded")
    if isinstance(value, dict):
        items = [(label_for(k), fact_value(k, v, {}, resource_type)) for k, v in value.items()]
        return format_html(
            '<ul class="plain">{}</ul>', format_html_join("", "<li>{}: {}</li>", items)
        )
    if isinstance(value, list):
        if any(isinstance(v, dict | list) for v in value):
            # Escalation methods and the like: a list of records, each shown as its facts.
            items = [(fact_value(key, v, {}, resource_type),) for v in value]
            return format_html(
                '<ul class="plain">{}</ul>', format_html_join("", "<li>{}</li>", items)
            )
        return ", ".join(str(v) for v in value) or "none"
    if key == "aws_status":
        return aws_status_words(value)
    return str(value)


@register.simple_tag
def evidence_facts(finding) -> list[tuple[str, str]]:
    """The simple facts of a finding's evidence as (label, HTML) pairs, in reading order."""
    evidence = finding.evidence or {}
    keys = sorted(evidence, key=lambda k: ORDER.index(k) if k in ORDER else len(ORDER))
    return [
        (label_for(key, evidence), fact_value(key, evidence[key], evidence, finding.resource_type))
        for key in keys
        if key not in SECTION_KEYS
        and not key.endswith("_reason")
        and not (key in OPTIONAL_KEYS and evidence[key] is None)
    ]


@register.filter
def detail_kind(detail: dict) -> str:
    """The union member of an Access Analyzer findingDetails item."""
    return next(iter(detail), "") if isinstance(detail, dict) else ""


@register.filter
def detail_body(detail: dict) -> dict:
    return next(iter(detail.values()), {}) if isinstance(detail, dict) and detail else {}
