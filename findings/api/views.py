"""The JSON API: a bearer token names the person, then the same domain functions as the pages.

Every view is declared with `api_view(...)` (findings/api_base.py), which authenticates the token
(never a session cookie, so no CSRF token either), restricts the methods, checks the capabilities
and turns domain exceptions into JSON errors. The views themselves parse, call one domain
function, serialize (findings/api_serializers.py).
The OpenAPI document describing all of this is findings/api_schema.py.
"""

import json

from django.db.models import Count, Q
from django.http import HttpResponse, JsonResponse

from accounts.permissions import Capability
from findings.api.base import ApiError, Body, api_view, not_found, paginate, query_choice, query_int
from findings.api.schema import OPENAPI
from findings.api.serializers import cycle_summary, decision_record, item_record
from findings.detection.selectors import (
    SORTS,
    STATUSES,
    FindingFilters,
    filtered_findings,
    finding_record,
)
from findings.models import Decision, ReviewCycle, ReviewItem, Severity
from findings.reviews import services as review
from findings.reviews.evidence_pack import build_evidence_pack, pack_filename, zip_bytes

CYCLES_PAGE_SIZE = 50
FINDINGS_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_ROLE_ARNS = 1000


# --- Looking up -------------------------------------------------------------------------------


def cycle_detail(cycle_id: int) -> dict:
    """The cycle and every item, in three queries whatever the number of items."""
    cycle = (
        ReviewCycle.objects.select_related("opened_by", "signed_off_by")
        .prefetch_related("scope_accounts")
        .filter(pk=cycle_id)
        .first()
    )
    if cycle is None:
        raise not_found("review cycle")
    items = list(
        cycle.items.select_related(
            "account", "assignee", "latest_decision__decided_by", "latest_decision__delegate_to"
        )
    )
    return {
        **cycle_summary(cycle, decided_count=sum(item.is_decided for item in items)),
        "attestation": cycle.attestation,
        "signed_population_hash": cycle.signed_population_hash,
        "notes": cycle.notes,
        "unknown_role_arns": cycle.unknown_role_arns,
        "scope_accounts": [account.account_id for account in cycle.scope_accounts.all()],
        "items": [item_record(item) for item in items],
    }


def cycles_with_progress():
    return ReviewCycle.objects.select_related("opened_by", "signed_off_by").annotate(
        decided_count=Count("items", filter=Q(items__is_decided=True))
    )


def get_cycle(cycle_id: int) -> ReviewCycle:
    cycle = ReviewCycle.objects.filter(pk=cycle_id).first()
    if cycle is None:
        raise not_found("review cycle")
    return cycle


# --- Views ------------------------------------------------------------------------------------


@api_view(methods=("POST",), any_of=(Capability.DECIDE, Capability.MANAGE_ACCOUNTS))
def releases(request):
    body = Body(request, {"application", "version", "role_arns", "notes"})
    fields = {
        "application": body.text("application"),
        "version": body.text("version"),
        "role_arns": body.texts("role_arns"),
        "notes": body.text("notes"),
    }
    if len(fields["role_arns"]) > MAX_ROLE_ARNS:
        body.errors["role_arns"] = f"List at most {MAX_ROLE_ARNS} role ARNs per release."
    body.check()
    opened = review.open_release_cycle(**fields, opened_by=request.user)
    cycle = cycles_with_progress().get(pk=opened.pk)
    response = JsonResponse(
        {
            "cycle": cycle_summary(cycle, decided_count=cycle.decided_count),
            "unknown_role_arns": cycle.unknown_role_arns,
        },
        status=201,
    )
    response["Location"] = f"/api/cycles/{cycle.pk}"
    return response


@api_view(Capability.VIEW)
def cycles(request):
    kind = query_choice(request, "kind", ReviewCycle.Kind.values)
    state = query_choice(request, "state", ReviewCycle.State.values)
    queryset = cycles_with_progress().order_by("-opened_at", "-id")
    if kind:
        queryset = queryset.filter(kind=kind)
    if state:
        queryset = queryset.filter(state=state)
    rows, envelope = paginate(request, queryset, page_size=CYCLES_PAGE_SIZE)
    results = [cycle_summary(c, decided_count=c.decided_count) for c in rows]
    return JsonResponse({"results": results, **envelope})


@api_view(Capability.VIEW)
def cycle(request, cycle_id: int):
    return JsonResponse(cycle_detail(cycle_id))


@api_view(Capability.EXPORT)
def cycle_evidence(request, cycle_id: int):
    output = query_choice(request, "format", ["json", "zip"]) or "json"
    cycle = get_cycle(cycle_id)
    pack = build_evidence_pack(cycle)
    if output == "zip":
        response = HttpResponse(zip_bytes(pack), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{pack_filename(cycle)}"'
        return response
    return JsonResponse(
        {
            "manifest": pack.manifest,
            "cycle": json.loads(pack.files["cycle.json"]),
            "files": {
                name: content.decode()
                for name, content in pack.files.items()
                if name.endswith(".csv")
            },
        }
    )


@api_view(Capability.DECIDE, methods=("POST",))
def item_decisions(request, item_id: int):
    item = ReviewItem.objects.select_related("cycle").filter(pk=item_id).first()
    if item is None:
        raise not_found("review item")
    body = Body(
        request,
        {"decision", "justification", "expires_on", "delegate_to", "previous_decision_id"},
    )
    kind = body.text("decision")
    if not kind and "decision" not in body.errors:
        body.errors["decision"] = f"Choose one of: {', '.join(Decision.Kind.values)}."
    decision = review.DecisionInput(
        kind=kind,
        justification=body.text("justification"),
        expires_on=body.day("expires_on"),
        delegate_to=body.person("delegate_to"),
    )
    previous = body.integer("previous_decision_id")
    body.check()
    made = review.decide_item(
        item=item, actor=request.user, decision=decision, expected_latest_id=previous
    )
    return JsonResponse(decision_record(made), status=201)


@api_view(Capability.SIGN_OFF, methods=("POST",))
def cycle_sign_off(request, cycle_id: int):
    cycle = get_cycle(cycle_id)
    body = Body(request, {"attestation"})
    attestation = body.text("attestation")
    body.check()
    review.sign_off_cycle(cycle=cycle, approver=request.user, attestation=attestation)
    return JsonResponse(cycle_detail(cycle_id))


@api_view(Capability.VIEW)
def findings(request):
    query_choice(request, "status", STATUSES)
    query_choice(request, "sort", SORTS)
    query_choice(request, "severity", Severity.values)
    page_size = query_int(request, "page_size", default=FINDINGS_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
    queryset = filtered_findings(FindingFilters.from_params(request.GET))
    rows, envelope = paginate(request, queryset, page_size=page_size)
    return JsonResponse({"results": [finding_record(f) for f in rows], **envelope})


@api_view(public=True)
def schema(request):
    return JsonResponse(OPENAPI)


@api_view(methods=("GET", "POST", "PUT", "PATCH", "DELETE"))
def unknown(request, rest: str):
    raise ApiError(404, {"error": "No such API endpoint; see /api/schema."})
