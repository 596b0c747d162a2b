"""The Findings pages: the filtered list (with exports), one finding explained, exclusions."""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import Capability, requires
from findings.checks import CHECKS_BY_ID
from findings.detect import AA_PREFIX, AA_TYPES
from findings.exclusions import create_exclusion, end_exclusion
from findings.export import csv_text, json_text
from findings.finding_forms import ExclusionForm
from findings.models import AwsAccount, Exclusion, Finding, IamRole, IamUser, Severity
from findings.queries import (
    SORTS,
    STATUSES,
    FindingFilters,
    check_title,
    explanation,
    filtered_findings,
    finding_record,
    severity_counts,
)

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
        result.append(Column(label, list_url(filters, sort=target), aria))
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


@require_GET
@requires(Capability.VIEW)
def findings_list(request):
    filters = FindingFilters.from_params(request.GET)
    page = Paginator(filtered_findings(filters), PER_PAGE).get_page(request.GET.get("page"))
    counts = severity_counts(filters)
    context = {
        "filters": filters,
        "page": page,
        "columns": columns(filters),
        "chips": severity_chips(filters, counts),
        "filtered": is_filtered(filters),
        "statuses": [(status, STATUS_LABELS[status]) for status in STATUSES],
        "severities": Severity.choices,
        "check_groups": check_groups(),
        "check_label": check_title(filters.check) if filters.check else "",
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
    template = "findings/findings.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#findings-table"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def export_response(request, *, extension: str, content_type: str, render_rows) -> HttpResponse:
    filters = FindingFilters.from_params(request.GET)
    rows = [finding_record(f) for f in filtered_findings(filters).iterator(chunk_size=2000)]
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = HttpResponse(render_rows(rows), content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="iamreview-findings-{stamp}.{extension}"'
    )
    return response


@require_GET
@requires(Capability.VIEW)
def findings_export_csv(request):
    return export_response(
        request, extension="csv", content_type="text/csv; charset=utf-8", render_rows=csv_text
    )


@require_GET
@requires(Capability.VIEW)
def findings_export_json(request):
    return export_response(
        request,
        extension="json",
        content_type="application/json; charset=utf-8",
        render_rows=json_text,
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


@require_GET
@requires(Capability.VIEW)
def finding_detail(request, pk: int):
    finding = get_object_or_404(
        Finding.objects.select_related(
            "account", "exclusion__owner", "aws_finding", "resolved_by_run"
        ),
        pk=pk,
    )
    relevant, other = thresholds_used(finding)
    resource = resource_page(finding)
    context = {
        "finding": finding,
        "about": explanation(finding),
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
    return render(request, "findings/finding.html", context)


# --- Exclusions -------------------------------------------------------------------------------


@require_GET
@requires(Capability.VIEW)
def exclusion_list(request):
    today = timezone.localdate()
    exclusions = list(
        Exclusion.objects.select_related(
            "account", "owner", "created_by", "ended_by", "finding__account"
        ).order_by("-created_at")[:500]
    )
    counts = dict(
        Finding.objects.filter(
            exclusion_id__in=[e.pk for e in exclusions], status=Finding.Status.EXCLUDED
        )
        .values("exclusion_id")
        .annotate(n=Count("id"))
        .values_list("exclusion_id", "n")
    )
    for exclusion in exclusions:
        exclusion.excluded_count = counts.get(exclusion.pk, 0)
        exclusion.is_expired = exclusion.expires_on < today
        exclusion.check_label = check_title(exclusion.check_id) if exclusion.check_id else ""
    active = [e for e in exclusions if e.ended_at is None and not e.is_expired]
    past = [e for e in exclusions if e.ended_at is not None or e.is_expired]
    return render(request, "findings/exclusions.html", {"active": active, "past": past})


@require_http_methods(["GET", "POST"])
@requires(Capability.MANAGE_ACCOUNTS)
def exclusion_add(request):
    finding = None
    finding_id = request.POST.get("finding") or request.GET.get("finding")
    if finding_id and finding_id.isdigit():
        finding = Finding.objects.select_related("account").filter(pk=finding_id).first()
    if request.method == "POST":
        form = ExclusionForm(request.POST)
        if form.is_valid():
            try:
                exclusion = create_exclusion(**form.arguments(), created_by=request.user)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                if exclusion.finding_id:
                    messages.success(
                        request,
                        f"This finding is excluded until {exclusion.expires_on:%Y-%m-%d}.",
                    )
                    return redirect("finding", pk=exclusion.finding_id)
                count = Finding.objects.filter(exclusion=exclusion).count()
                messages.success(
                    request,
                    f"Excluded {exclusion.describe()} until {exclusion.expires_on:%Y-%m-%d}: "
                    f"{count} finding{pluralize(count)} set aside now.",
                )
                return redirect("exclusions")
    else:
        form = ExclusionForm(
            initial=ExclusionForm.initial_for(
                user=request.user, finding=finding, arn_pattern=request.GET.get("arn", "")
            )
        )
    return render(request, "findings/exclusion_form.html", {"form": form, "finding": finding})


@require_POST
@requires(Capability.MANAGE_ACCOUNTS)
def exclusion_end(request, pk: int):
    exclusion = get_object_or_404(Exclusion, pk=pk)
    try:
        end_exclusion(exclusion=exclusion, ended_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Ended the exclusion of {exclusion.describe()}: its findings are back."
        )
    return redirect(safe_next(request, reverse("exclusions")))


def safe_next(request, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
