"""Right-sizing pages: the Least privilege section of a principal, its downloads, and the list."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import F
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Capability, requires
from findings.collection.policy_generation import (
    DEFAULT_DAYS,
    MAX_DAYS,
    MIN_DAYS,
    GenerationForbidden,
    GenerationRefused,
    latest_generation,
    needs_task,
    request_policy_generation,
)
from findings.collection.tasks import queue_policy_generation
from findings.export.tables import csv_text, json_text
from findings.models import AwsAccount, IamRole, IamUser
from findings.models.paging import LateRows
from findings.policy.documents import diff_documents
from findings.rightsizing import exports
from findings.rightsizing.plans import compare_documents, planned_documents
from findings.rightsizing.selectors import compute_suggestions, group_members, rightsizing_rows
from iamreview.input_guard import parse_id
from iamreview.paging import page_asked

MODELS = {"user": IamUser, "role": IamRole}
# A 400's message repeats what was asked (the `tag` a link carries): as text/html a crafted
# link would write markup, such as a <meta http-equiv=refresh> to another site, into ours.
PLAIN_TEXT = "text/plain; charset=utf-8"
DOWNLOADS = {
    "json": (exports.policy_json, "application/json", "policy.json"),
    "terraform": (exports.terraform, "text/plain; charset=utf-8", "least-privilege.tf"),
    "cloudformation": (exports.cloudformation, "application/json", "least-privilege.cfn.json"),
}
# Downloads that change the role in IAM: none for a role IAM Identity Center manages.
IAM_CHANGES = ("terraform", "cloudformation")
VERDICT_ORDER = ("used", "unused", "too-new", "not-tracked", "no-data", "stale")
# Past this many unused services, or services kept without evidence either way (too new, not
# tracked, no data), the rest are folded under one summary line (an administrator's policy
# grants some 400 services).
FOLD_KEPT_AFTER = 20
VERDICTS_JUDGED = ("used", "unused")
PER_PAGE = 50
CHART_WIDTH = 400


def least_privilege_context(principal: IamUser | IamRole) -> dict:
    """The Least privilege section of a user or role page (a handful of queries)."""
    if getattr(principal, "is_service_linked", False):
        return {"least_privilege": None}
    suggestion = compute_suggestions(account=principal.account, principals=[principal])[
        principal.arn
    ]
    counts = dict.fromkeys(VERDICT_ORDER, 0)
    for service in suggestion["services"]:
        counts[service["verdict"]] += 1
    total = max(sum(counts.values()), 1)
    bars, x = [], 0
    for verdict in VERDICT_ORDER:
        width = round(CHART_WIDTH * counts[verdict] / total)
        bars.append({"verdict": verdict, "count": counts[verdict], "x": x, "width": width})
        x += width
    changes = [
        {
            **change,
            "diff": diff_documents(old=change["before"], new=change["after"]).unified,
            "affects_more": change["affects_count"] - len(change["affects_first"]),
        }
        for change in suggestion["changes"]
    ]
    # Every used service, and the first unused ones; the rest (an administrator's unused
    # hundreds, those kept without evidence) folded under one summary line.
    services = suggestion["services"]
    used = [s for s in services if s["verdict"] == "used"]
    unused = [s for s in services if s["verdict"] == "unused"]
    shown = used + unused[:FOLD_KEPT_AFTER]
    folded = unused[FOLD_KEPT_AFTER:] + [s for s in services if s["verdict"] not in VERDICTS_JUDGED]
    if len(folded) <= FOLD_KEPT_AFTER:
        shown, folded = services, []
    folded_counts = Counter(s["verdict"] for s in folded)
    context = {
        "least_privilege": suggestion,
        "least_privilege_services": shown,
        "least_privilege_folded": folded,
        # What the folded rows are, for their summary line ("unused: 420; no-data: 3").
        "least_privilege_folded_counts": "; ".join(
            f"{verdict}: {folded_counts[verdict]}"
            for verdict in VERDICT_ORDER
            if folded_counts[verdict]
        ),
        "least_privilege_changes": changes,
        "least_privilege_bars": bars,
        "least_privilege_changed": any(c["action"] != "keep" for c in changes),
        "chart_width": CHART_WIDTH,
    }
    if isinstance(principal, IamRole):
        context.update(generation_context(principal, suggestion=suggestion))
    return context


def generation_context(role: IamRole, *, suggestion: dict | None = None) -> dict:
    """The "Generate from CloudTrail" part of a role's Least privilege section."""
    generation = latest_generation(role=role)
    comparison = None
    if generation is not None and generation.status == generation.Status.SUCCEEDED:
        if suggestion is None:
            suggestion = compute_suggestions(account=role.account, principals=[role])[role.arn]
        comparison = compare_documents(
            ours=planned_documents(plan=suggestion), theirs=generation.policies
        )
    return {
        "role": role,
        "generation": generation,
        "generation_comparison": comparison,
        "generation_enabled": role.account.generates_policies,
        "generation_days": {"min": MIN_DAYS, "max": MAX_DAYS, "default": DEFAULT_DAYS},
    }


def render_generation(request, role: IamRole, *, error: str = "", status: int = 200):
    context = {**generation_context(role), "generation_error": error}
    response = render(
        request, "findings/rightsizing/generation.html#generation", context, status=status
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@requires(Capability.VIEW)
@require_GET
def generation_status(request, pk: int):
    role = get_object_or_404(IamRole.objects.select_related("account"), pk=pk, gone_at=None)
    return render_generation(request, role)


# Administrators and reviewers: the domain decides (Forbidden -> 403).
@requires(Capability.VIEW)
@require_POST
def generate_from_cloudtrail(request, pk: int):
    role = get_object_or_404(IamRole.objects.select_related("account"), pk=pk, gone_at=None)
    raw = (request.POST.get("days") or "").strip()
    error = ""
    if parse_id(raw) is None or len(raw) > 4:
        error = f"Choose a period of {MIN_DAYS} to {MAX_DAYS} days"
    else:
        try:
            generation = request_policy_generation(role=role, days=int(raw), actor=request.user)
        except GenerationForbidden as exc:
            raise PermissionDenied(str(exc)) from exc
        except GenerationRefused as exc:
            error = str(exc)
        else:
            if needs_task(generation=generation):
                queue_policy_generation(generation_id=generation.pk)
    if not request.htmx:
        if error:
            return HttpResponseBadRequest(error, content_type=PLAIN_TEXT)
        return redirect(reverse("inventory_role", args=[role.pk]) + "#cloudtrail-generation")
    return render_generation(request, role, error=error, status=400 if error else 200)


@requires(Capability.VIEW)
@require_GET
def download(request, kind: str, pk: int, fmt: str):
    if kind not in MODELS or fmt not in DOWNLOADS:
        raise Http404("No such download")
    principal = get_object_or_404(
        MODELS[kind].objects.select_related("account"), pk=pk, gone_at=None
    )
    if getattr(principal, "is_service_linked", False):
        return HttpResponseBadRequest(
            "A service-linked role's policies belong to AWS.", content_type=PLAIN_TEXT
        )
    if getattr(principal, "is_sso", False) and fmt in IAM_CHANGES:
        # AWS refuses IAM changes to a role IAM Identity Center made: these files would detach
        # and put policies it may not touch.
        return HttpResponseBadRequest(
            "IAM Identity Center made this role from a permission set, and AWS refuses IAM "
            "changes to it: change the permission set instead (its inline policy can be the "
            "policy JSON download).",
            content_type=PLAIN_TEXT,
        )
    suggestion = compute_suggestions(account=principal.account, principals=[principal])[
        principal.arn
    ]
    render_file, content_type, filename = DOWNLOADS[fmt]
    if fmt == "cloudformation":
        # Its metadata names every member a change to a group's policy reaches.
        groups = [c["group"] for c in exports.changed(suggestion=suggestion) if c.get("group")]
        members = group_members(account=principal.account, groups=groups)
        text = render_file(suggestion=suggestion, members=members)
    else:
        text = render_file(suggestion=suggestion)
    response = HttpResponse(text, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{principal.name}-{filename}"'
    return response


def _filters(request) -> dict[str, str]:
    kind = (request.GET.get("kind") or "").strip()
    return {
        "account": (request.GET.get("account") or "").strip()[:12],
        "kind": kind if kind in MODELS else "",
        "tag": (request.GET.get("tag") or "").strip()[:256],
    }


def _rows(filters: dict[str, str]):
    """The list's rows without their suggestion documents: an admin role's runs to megabytes,
    of which the list and the exports show only the unused services."""
    return (
        rightsizing_rows(account_id=filters["account"], kind=filters["kind"], tag=filters["tag"])
        .defer("data")
        .annotate(unused_services=F("data__removed_services"))
    )


@requires(Capability.VIEW)
@require_GET
def rightsizing(request):
    filters = _filters(request)
    try:
        asked = page_asked(request.GET.get("page"))
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type=PLAIN_TEXT)
    tag_error = ""
    try:
        rows = LateRows(_rows(filters))
    except ValueError as exc:  # a tag that is no tag: the page again, saying so by the field
        tag_error, rows = str(exc), []
    page = Paginator(rows, PER_PAGE).get_page(asked)
    context = {
        "page": page,
        "tag_error": tag_error,
        "filters": filters,
        "accounts": AwsAccount.objects.only("account_id", "name"),
        "query": urlencode({k: v for k, v in filters.items() if v}),
    }
    template = "findings/rightsizing/rightsizing.html"
    if request.htmx:
        template += "#rightsizing-table"
    return render(request, template, context, status=400 if tag_error else 200)


def _export_row(row) -> dict:
    return {
        "account": row.account.account_id,
        "kind": row.principal_type,
        "name": row.principal_name,
        "arn": row.principal_arn,
        "removes_admin": row.removes_admin,
        "removed_write_actions": row.removed_write_actions,
        "removed_actions": row.removed_actions,
        "removed_services": row.unused_services or [],
        "changed_policies": row.changed_policies,
        "computed_at": row.computed_at.isoformat(),
        "action_database": row.action_database,
    }


@requires(Capability.EXPORT)
@require_GET
def export(request, fmt: str):
    if fmt not in ("csv", "json"):
        raise Http404("No such format")
    try:
        rows = [_export_row(row) for row in _rows(_filters(request))]
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type=PLAIN_TEXT)
    if fmt == "json":
        response = HttpResponse(json_text(rows), content_type="application/json")
    else:
        response = HttpResponse(csv_text(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="rightsizing.{fmt}"'
    return response
