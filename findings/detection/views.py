"""The Findings pages: the filtered list (with exports) and one finding explained.

The exclusion pages are in findings/exclusion_views.py.
"""

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from accounts.permissions import Capability, capabilities_of, requires
from findings.detection.checks import CHECKS_BY_ID
from findings.detection.detect import AA_PREFIX, AA_TYPES
from findings.detection.selectors import (
    SORTS,
    STATUSES,
    FindingFilters,
    check_title,
    explanation,
    filtered_findings,
    finding_records,
    findings_version,
    last_seen,
    matching_count,
    severity_counts,
)
from findings.export.tables import csv_chunks, json_chunks
from findings.models import AwsAccount, Finding, IamRole, IamUser, Severity
from findings.models.findings import SEVERITY_RANK
from findings.models.paging import LateRows
from iamreview.fragments import cached_fragment
from iamreview.paging import page_asked

PER_PAGE = 50
DEFAULTS = FindingFilters()
# Column header -> the sort a first click picks (a second click reverses it where it can).
COLUMNS = [
    ("severity", "Severity", "severity"),
    ("check", "Finding", "check"),
    ("resource", "Resource", "resource"),
    ("account", "Account", "account"),
    (None, "Status", None),
    ("first_seen", "First seen", "-first_seen"),
]
STATUS_LABELS = {"open": "Open", "resolved": "Resolved", "excluded": "Excluded", "all": "All"}
# The thresholds that decide each check, shown on its findings.
THRESHOLDS_USED = {
    "root-recent-use": ["root_use_days"],
    "password-unused": ["unused_credential_days", "grace_days"],
    "access-key-unused": ["unused_credential_days", "grace_days"],
    "access-key-not-rotated": ["key_rotation_days"],
    "inactive-user": ["inactive_user_days", "grace_days"],
    "role-unused": ["unused_role_days", "grace_days"],
    "sso-role-unused": ["unused_role_days", "grace_days"],
    "unused-services": ["unused_service_days", "grace_days"],
}
THRESHOLD_WORDS = {
    "unused_credential_days": "A credential counts as unused after {} days",
    "key_rotation_days": "An access key must be rotated within {} days",
    "inactive_user_days": "A user counts as inactive after {} days",
    "unused_role_days": "A role counts as unused after {} days",
    "unused_service_days": "A service counts as unused after {} days",
    "root_use_days": "Root use counts as recent within {} days",
    "grace_days": "New credentials and principals get {} days of grace",
}


def check_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """The check filter's choices, grouped as <optgroup>s."""
    return [
        ("Checks", [(check_id, check.title) for check_id, check in CHECKS_BY_ID.items()]),
        ("IAM Access Analyzer", [(AA_PREFIX + name, t.title) for name, t in AA_TYPES.items()]),
    ]


def list_url(filters: FindingFilters, *, base: str = "findings", **changes) -> str:
    """A shareable URL of the list (or an export), leaving out values that are the defaults."""
    params = {**filters.__dict__, **changes}
    params = {k: v for k, v in params.items() if v and v != getattr(DEFAULTS, k, None)}
    query = urlencode(params)
    return reverse(base) + (f"?{query}" if query else "")


@dataclass
class Column:
    label: str
    url: str | None
    aria_sort: str | None
    sort: str = ""  # the order a click asks for (the filter form's `sort`)


def columns(filters: FindingFilters) -> list[Column]:
    """Clickable headers: a first click picks the column's natural order, a second reverses it."""
    result = []
    for key, label, first in COLUMNS:
        if key is None:
            result.append(Column(label, None, None))
            continue
        if filters.sort == key:
            aria, target = "ascending", f"-{key}" if f"-{key}" in SORTS else key
        elif filters.sort == f"-{key}":
            aria, target = "descending", key
        else:
            aria, target = None, first
        if key == "severity" and aria:
            # Rank 0 is critical: ascending rank reads as "most severe first".
            aria = "descending" if aria == "ascending" else "ascending"
        result.append(Column(label, list_url(filters, sort=target), aria, target))
    return result


def severity_chips(filters: FindingFilters, counts: dict[str, int]) -> list[dict]:
    chips = [
        {
            "value": "",
            "label": "All severities",
            "count": sum(counts.values()),
            "url": list_url(filters, severity=""),
            "current": not filters.severity,
        }
    ]
    for severity in Severity:
        chips.append(
            {
                "value": severity.value,
                "label": severity.label,
                "count": counts.get(severity.value, 0),
                "url": list_url(filters, severity=severity.value),
                "current": filters.severity == severity.value,
            }
        )
    return chips


def is_filtered(filters: FindingFilters) -> bool:
    return any(
        getattr(filters, name) != getattr(DEFAULTS, name)
        for name in ("account", "check", "severity", "status", "q")
    )


TEMPLATE = "findings/detection/findings.html"
# The rendered list for one set of filters and page, per state of the findings: repeated views
# (many people on the first page) cost a cache read. A new finding or event moves the version;
# the TTL bounds what an event-less change (a severity, an account's name, "3 days ago") leaves.
LIST_CACHE_SECONDS = 60


def list_context(request, filters: FindingFilters) -> dict:
    counts = severity_counts(filters=filters)
    paginator = Paginator(LateRows(filtered_findings(filters=filters)), PER_PAGE)
    # Known from the (cached) severity counts: no second count of the table. Pages stop at
    # FINDINGS_LIST_MAX_ROWS so OFFSET stays bounded; filters narrow what lies beyond.
    total = matching_count(filters=filters, counts=counts)
    paginator.count = min(total, settings.FINDINGS_LIST_MAX_ROWS)
    page = paginator.get_page(page_asked(request.GET.get("page")))
    return {
        "filters": filters,
        "page": page,
        "columns": columns(filters),
        "chips": severity_chips(filters, counts),
        "filtered": is_filtered(filters),
        "total": total,
        "truncated": total > paginator.count,
        "statuses": [(status, STATUS_LABELS[status]) for status in STATUSES],
        "severities": Severity.choices,
        "check_groups": check_groups(),
        "check_label": check_title(check_id=filters.check) if filters.check else "",
        "accounts": AwsAccount.objects.only("account_id", "name"),
        "excluded_url": list_url(filters, status="excluded"),
        "csv_url": list_url(filters, base="findings_export_csv"),
        "json_url": list_url(filters, base="findings_export_json"),
        "page_urls": {
            "previous": list_url(filters, page=page.previous_page_number())
            if page.has_previous()
            else None,
            "next": list_url(filters, page=page.next_page_number()) if page.has_next() else None,
        },
    }


def list_cache_key(request, filters: FindingFilters, *, part: str) -> str:
    """Per state of the findings, filters and page, part rendered, and what the person may do
    (the page's links and hints depend on it); never per person otherwise."""
    capabilities = sorted(
        name for name, allowed in capabilities_of(request.user).items() if allowed
    )
    scope = json.dumps(
        [filters.as_params(), request.GET.get("page", ""), part, capabilities], sort_keys=True
    )
    digest = hashlib.sha256(scope.encode()).hexdigest()[:32]
    return f"iamreview:findings-list:{findings_version()}:{digest}"


@requires(Capability.VIEW)
@require_GET
def findings_list(request):
    filters = FindingFilters.from_params(request.GET)
    partial = bool(request.htmx and not request.htmx.history_restore_request)
    part = "findings-table" if partial else "findings-content"
    content, context = cached_fragment(
        request,
        key=list_cache_key(request, filters, part=part),
        seconds=LIST_CACHE_SECONDS,
        template=f"{TEMPLATE}#{part}",
        build=lambda: list_context(request, filters),
    )
    if partial:
        response = HttpResponse(content)
    else:
        # The list's context goes along when it was just built (tests read it); the page
        # around it only places the rendered content.
        context["content"] = mark_safe(content)  # noqa: S308 - rendered by the template engine
        response = render(request, TEMPLATE, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def export_response(
    request, *, extension: str, content_type: str, render_rows, json_as_text: bool = False
) -> StreamingHttpResponse:
    """The filtered findings streamed from a server-side cursor: memory stays flat however many
    rows there are (the rows are read while the response is sent).

    A filter value the list would quietly drop (`severity=zzz`) is refused here: a page shows
    which filters it applied, a file taken by a script does not, and it held everything."""
    filters = FindingFilters.from_params(request.GET)
    if problem := unknown_filter_value(request.GET, filters):
        return HttpResponseBadRequest(problem, content_type="text/plain; charset=utf-8")
    rows = finding_records(findings=filtered_findings(filters=filters), json_as_text=json_as_text)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(render_rows(rows), content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="iamreview-findings-{stamp}.{extension}"'
    )
    return response


def unknown_filter_value(params, filters: FindingFilters) -> str:
    """Why the export's filters are not what was asked ("" when they are)."""
    for name in ("severity", "status", "sort"):
        asked = (params.get(name) or "").strip()
        if asked and asked != getattr(filters, name):
            choices = {"severity": SEVERITY_RANK, "status": STATUSES, "sort": SORTS}[name]
            return f"Unknown {name} {asked[:50]!r}: choose from {', '.join(choices)}."
    return ""


@requires(Capability.VIEW)
@require_GET
def findings_export_csv(request):
    return export_response(
        request,
        extension="csv",
        content_type="text/csv; charset=utf-8",
        render_rows=csv_chunks,
        # A cell holds the evidence as JSON text: the database's own, not decoded and encoded.
        json_as_text=True,
    )


@requires(Capability.VIEW)
@require_GET
def findings_export_json(request):
    return export_response(
        request,
        extension="json",
        content_type="application/json; charset=utf-8",
        render_rows=json_chunks,
    )


# --- One finding ------------------------------------------------------------------------------


def resource_page(finding: Finding) -> tuple[str, str] | None:
    """(URL, name) of the user or role page of the finding's resource, when we hold one."""
    lookups = {"account_id": finding.account_id, "arn": finding.resource_arn}
    role = IamRole.objects.filter(**lookups).only("pk", "name").first()
    if role is not None:
        return reverse("inventory_role", args=[role.pk]), role.name
    user = IamUser.objects.filter(**lookups).only("pk", "name").first()
    if user is not None:
        return reverse("inventory_user", args=[user.pk]), user.name
    return None


def thresholds_used(finding: Finding) -> tuple[list[str], list[str]]:
    """(the thresholds that decide this check, the others), in words."""
    used = THRESHOLDS_USED.get(finding.check_id, [])
    words = {
        name: THRESHOLD_WORDS.get(name, name.replace("_", " ") + ": {}").format(value)
        for name, value in (finding.thresholds or {}).items()
    }
    return [words[n] for n in used if n in words], [w for n, w in words.items() if n not in used]


@requires(Capability.VIEW)
@require_GET
def finding_detail(request, pk: int):
    finding = get_object_or_404(
        Finding.objects.select_related(
            "account", "exclusion__owner", "aws_finding", "resolved_by_run"
        ),
        pk=pk,
    )
    finding.last_seen_at = last_seen(finding=finding)
    relevant, other = thresholds_used(finding)
    resource = resource_page(finding)
    context = {
        "finding": finding,
        "about": explanation(finding=finding),
        "is_access_analyzer": finding.check_id.startswith(AA_PREFIX),
        "events": finding.events.select_related("run__account"),
        "resource_url": resource[0] if resource else None,
        "resource_principal": resource[1] if resource else "",
        # Not `finding.evidence.keys` in the template: that resolves to dict.keys.
        "key_rows": (finding.evidence or {}).get("keys") or [],
        "thresholds_relevant": relevant,
        "thresholds_other": other,
        "exclusion_expired": bool(
            finding.exclusion_id and finding.exclusion.expires_on < timezone.localdate()
        ),
    }
    return render(request, "findings/detection/finding.html", context)
