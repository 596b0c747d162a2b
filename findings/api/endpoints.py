"""The JSON API's operations: each reads its input (inputs.py), calls one domain function and
answers (schemas.py).

A bearer token names the caller (auth.py), who then meets the same rules as in the browser;
failures become JSON errors (errors.py). Ninja generates the OpenAPI document from these
declarations: OPENAPI below, served at /api/schema, with ninja's interactive docs at /api/docs.
"""

import json
from dataclasses import asdict

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.urls import reverse
from ninja import NinjaAPI, P, Path, Query, Status, Swagger
from ninja.pagination import paginate
from ninja.responses import NinjaJSONEncoder

from accounts.models import ApiToken
from accounts.permissions import Capability, requires
from findings.api import inputs, schemas
from findings.api.auth import WWW_AUTHENTICATE, TokenAuth
from findings.api.errors import ApiError, JsonObjectParser, add_error_answers, not_found
from findings.api.inputs import MAX_PAGE_SIZE, MAX_ROLE_ARNS
from findings.api.pagination import PageNumbers, SizedPageNumbers
from findings.detection.selectors import (
    FindingFilters,
    filtered_findings,
    matching_count,
    read_findings,
    severity_counts,
)
from findings.models import ReviewCycle, ReviewItem
from findings.reviews import releases
from findings.reviews import services as review
from findings.reviews.evidence_pack import (
    build_evidence_pack,
    pack_filename,
    record_export,
    zip_bytes,
)
from findings.reviews.summary import sign_off_summary
from findings.rightsizing.selectors import suggestion_for

# The operations a release pipeline's token may call besides a full token: registering a
# release and reading. Every other operation refuses it (TokenAuth's default).
PIPELINE = (ApiToken.Scope.RELEASE_PIPELINE,)
CYCLES_PAGE_SIZE = 50
FINDINGS_PAGE_SIZE = 50
# Where iamreview/urls.py mounts the API; a test compares the document's paths with the URLs.
PATH_PREFIX = "/api/"


class Docs(Swagger):
    """Ninja's Swagger UI, reading the document where the API serves it."""

    def get_openapi_url(self, api, path_params) -> str:
        return reverse("api-schema")


api = NinjaAPI(
    title="iamreview API",
    version="1",
    description=(
        "Continuous least-privilege review of AWS IAM. Authenticate every call (except this "
        "schema) with a personal API token: 'Authorization: Bearer iamr_...'. The browser's "
        "session does not authenticate the API: to try a call on this page, create a token "
        "on your profile page (Personal API tokens), then press Authorize and paste it. The "
        "token "
        "acts with its owner's roles; the same rules as in the browser apply (segregation "
        "of duties, locked cycles after sign-off). A token's scope can narrow that, never "
        "widen it: a 'full' token acts with all of its owner's roles; a 'release-pipeline' "
        "token (for a CI/CD pipeline) only registers releases and reads cycles, items, "
        "findings and suggestions, and is refused (403) by every other operation, such as "
        "deciding an item or signing off. Each operation lists the scopes it takes in "
        "x-token-scopes. Request bodies are JSON objects sent "
        "with 'Content-Type: application/json'. No string, in a body or a query parameter, may "
        "contain a NUL character (\\u0000) or a lone surrogate, and no query parameter may be "
        "given twice: each is a 400."
    ),
    servers=[{"url": "/"}],
    parser=JsonObjectParser(),
    docs=Docs(),
    docs_url="/docs",
    # A page for logged-in people: LoginRequiredMiddleware sends anyone else to log in.
    docs_decorator=requires(),
)
add_error_answers(api)


def failures(*statuses: int) -> dict[int, type]:
    """The error answers of an operation: its own, and 400, 401, 403, 405 and 500 as every one."""
    shapes = {400: schemas.FieldErrors, 409: schemas.ConflictError}
    return {
        status: shapes.get(status, schemas.Error)
        # 400 everywhere: the input guard (iamreview/input_guard.py) refuses NUL characters,
        # lone surrogates and deep JSON in any request before an operation runs.
        for status in sorted({400, 401, 403, 405, 500, *statuses})
    }


CycleId = Path[int, P(description="The cycle's id.")]
ItemId = Path[int, P(description="The review item's id.")]


# --- Looking up -------------------------------------------------------------------------------


def cycles_with_progress():
    """Cycles with their decided count: a correlated count per cycle read (on the
    (cycle, is_decided) index), so a page of cycles never aggregates every item of every cycle."""
    decided = (
        ReviewItem.objects.filter(cycle=OuterRef("pk"), is_decided=True)
        .order_by()
        .values("cycle")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return ReviewCycle.objects.select_related("opened_by", "signed_off_by").annotate(
        decided_count=Coalesce(Subquery(decided), 0)
    )


def findings_total(findings: QuerySet, request) -> int:
    """The list's total from the cached severity counts (what the Findings page shows), not a
    count of the table per request. The query string was validated by FindingQuery."""
    filters = FindingFilters.from_params(params=request.GET)
    return matching_count(filters=filters, counts=severity_counts(filters=filters))


def cycle_with_items(cycle_id: int) -> ReviewCycle:
    """The cycle, its accounts and every item, in three queries whatever the number of items."""
    items = ReviewItem.objects.select_related(
        "account", "assignee", "latest_decision__decided_by", "latest_decision__delegate_to"
    )
    cycle = (
        cycles_with_progress()
        .prefetch_related("scope_accounts", Prefetch("items", queryset=items))
        .filter(pk=cycle_id)
        .first()
    )
    if cycle is None:
        raise not_found("review cycle")
    return cycle


def get_cycle(cycle_id: int) -> ReviewCycle:
    cycle = ReviewCycle.objects.filter(pk=cycle_id).first()
    if cycle is None:
        raise not_found("review cycle")
    return cycle


# --- Operations -------------------------------------------------------------------------------


@api.post(
    "/releases",
    url_name="api-releases",
    operation_id="registerRelease",
    summary="Register a release and open its per-release review cycle",
    description=(
        f"Needs decide_review_items or manage_aws_accounts. At most {MAX_ROLE_ARNS} role ARNs; "
        "those iamreview does not know are reported in unknown_role_arns, not ignored. One "
        "review per application and version: 201 with the cycle opened now; 200 with the open "
        "cycle when that version is in review already (a retried pipeline step gets the same "
        "cycle; when the roles differ, the cycle takes the change and `changes` says what "
        "changed); once that version is signed off, 200 with the signed-off cycle (its `state` "
        "signed_off, `created` false, `changes` null) for the same registration (the roles it "
        "named last, and its notes or none: a pipeline re-run after approval), and 409 for any "
        "other (a release that changes anything needs a new version number)."
    ),
    auth=TokenAuth(any_of=(Capability.DECIDE, Capability.MANAGE_ACCOUNTS), scopes=PIPELINE),
    response={
        201: schemas.OpenedRelease,
        200: schemas.OpenedRelease,
        **failures(400, 413),
        409: schemas.ReleaseConflict,
    },
)
def register_release(request, release: inputs.ReleaseRequest, response: HttpResponse):
    try:
        opened, is_new, changes = releases.open_release_cycle(
            **release.model_dump(), opened_by=request.auth
        )
    except releases.ReleaseSignedOff as signed:
        raise ApiError(409, {"error": str(signed), "cycle_id": signed.cycle.pk}) from None
    cycle = cycles_with_progress().get(pk=opened.pk)
    response["Location"] = reverse("api-cycle", kwargs={"cycle_id": cycle.pk})
    body = {
        "cycle": cycle,
        "unknown_role_arns": cycle.unknown_role_arns,
        "created": is_new,
        "changes": changes.as_record() if changes else None,
    }
    return Status(201 if is_new else 200, body)


@api.get(
    "/cycles",
    url_name="api-cycles",
    operation_id="listCycles",
    summary="Review cycles, newest first",
    description="A pipeline that lost a release's cycle id finds it by application and version "
    "(`?application=checkout&version=2.15.0`; a release has one cycle per version): its "
    "`state` says whether that version is approved (signed_off).",
    auth=TokenAuth(Capability.VIEW, scopes=PIPELINE),
    response={200: list[schemas.CycleSummary], **failures(400, 404)},
)
@paginate(PageNumbers, page_size=lambda: CYCLES_PAGE_SIZE)
def list_cycles(request, filters: Query[inputs.CycleQuery]):
    cycles = cycles_with_progress().order_by("-opened_at", "-id")
    if filters.kind:
        cycles = cycles.filter(kind=filters.kind)
    if filters.state:
        cycles = cycles.filter(state=filters.state)
    # Stripped as registration stores them; an empty one filters nothing.
    if application := (filters.application or "").strip():
        cycles = cycles.filter(application__iexact=application)
    if version := (filters.version or "").strip():
        cycles = cycles.filter(version=version)
    return cycles


@api.get(
    "/cycles/{int:cycle_id}",
    url_name="api-cycle",
    operation_id="getCycle",
    summary="A review cycle with every item and its latest decision",
    auth=TokenAuth(Capability.VIEW, scopes=PIPELINE),
    response={200: schemas.Cycle, **failures(404)},
)
def show_cycle(request, cycle_id: CycleId):
    return cycle_with_items(cycle_id)


@api.get(
    "/cycles/{int:cycle_id}/evidence",
    url_name="api-cycle-evidence",
    operation_id="getEvidencePack",
    summary="The cycle's evidence pack (needs export_evidence, or sign_off_cycles for a "
    "cycle you may sign off)",
    description="Auditors and administrators (export_evidence) read any cycle's pack; an "
    "approver (sign_off_cycles) the pack of a cycle they may sign off now, or signed off "
    "themselves, as on the cycle page. Each download is recorded in the audit trail.",
    auth=TokenAuth(any_of=(Capability.EXPORT, Capability.SIGN_OFF)),
    response={200: schemas.EvidencePack, **failures(400, 404)},
    by_alias=True,  # the files are named items.csv and decisions.csv
    openapi_extra={
        "responses": {
            200: {
                "content": {
                    "application/zip": {
                        "schema": {"type": "string", "contentMediaType": "application/zip"}
                    }
                }
            }
        }
    },
)
def evidence_pack(request, cycle_id: CycleId, options: Query[inputs.EvidenceQuery]):
    cycle = get_cycle(cycle_id)
    if not review.may_download_evidence(user=request.auth, cycle=cycle):
        raise ApiError(
            403,
            {
                "error": "Requires the export_evidence permission; with sign_off_cycles, only "
                "the pack of a cycle you may sign off now, or signed off yourself."
            },
        )
    pack = build_evidence_pack(cycle=cycle)
    record_export(pack=pack, cycle=cycle, actor=request.user)
    if options.format == "zip":
        response = HttpResponse(zip_bytes(pack=pack), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{pack_filename(cycle=cycle)}"'
        return response
    return {
        "manifest": pack.manifest,
        "cycle": json.loads(pack.files["cycle.json"]),
        "files": {
            name: content.decode() for name, content in pack.files.items() if name.endswith(".csv")
        },
    }


@api.post(
    "/items/{int:item_id}/decisions",
    url_name="api-item-decisions",
    operation_id="decideItem",
    summary="Record a decision on a review item (needs decide_review_items)",
    description="Decisions are append-only: a new one supersedes the latest. Refused (403) for "
    "items about your own IAM identity (segregation of duties) and in signed-off cycles.",
    auth=TokenAuth(Capability.DECIDE),
    response={201: schemas.Decision, **failures(400, 404, 409, 413)},
)
def decide(request, item_id: ItemId, decision: inputs.DecisionRequest):
    item = ReviewItem.objects.select_related("cycle").filter(pk=item_id).first()
    if item is None:
        raise not_found("review item")
    made = review.decide_item(
        item=item,
        actor=request.auth,
        decision=review.DecisionInput(
            kind=decision.decision,
            justification=decision.justification,
            expires_on=decision.expires_on,
            delegate_to=decision.delegate_to,
        ),
        expected_latest_id=decision.previous_decision_id,
    )
    return Status(201, made)


@api.post(
    "/cycles/{int:cycle_id}/sign-off",
    url_name="api-cycle-sign-off",
    operation_id="signOffCycle",
    summary="Sign off a fully decided cycle (needs sign_off_cycles)",
    description="Read the sign-off summary first (GET /api/cycles/{cycle_id}/sign-off-summary) "
    "and send its `digest` as `summary_hash`, with an attestation of at least "
    f"{review.MIN_ATTESTATION_LENGTH} characters: without either, 400. When the summary has "
    "changed since it was read, 409 with the current summary: read it, then sign again. "
    "Refused (403) while items wait for a decision, when the cycle is already signed off, or "
    "when the approver decided items in it, the cycle reviews their own IAM identity, or they "
    "registered the release (opened its cycle, or registered it again with other roles or "
    "notes): segregation of duties.",
    auth=TokenAuth(Capability.SIGN_OFF),
    response={200: schemas.Cycle, **failures(400, 404, 413), 409: schemas.SignOffConflict},
)
def sign_off(request, cycle_id: CycleId, body: inputs.SignOffRequest):
    cycle = get_cycle(cycle_id)
    try:
        review.sign_off_cycle(
            cycle=cycle,
            approver=request.auth,
            attestation=body.attestation,
            summary_hash=body.summary_hash,
        )
    except review.Invalid as refused:
        if "summary" in refused.errors:
            # Decisions changed after the approver read the summary: read it again, then sign.
            current = asdict(sign_off_summary(cycle=cycle))
            body = {"error": refused.errors["summary"], "current_decision": None}
            raise ApiError(409, {**body, "summary": current}) from None
        if "summary_hash" in refused.errors:
            read_first = (
                "Read the sign-off summary first: GET "
                f"{reverse('api-cycle-sign-off-summary', kwargs={'cycle_id': cycle.pk})}, then "
                "send its digest as summary_hash."
            )
            errors = {**refused.errors, "summary_hash": read_first}
            raise ApiError(400, {"errors": errors}) from None
        raise
    return cycle_with_items(cycle_id)


@api.get(
    "/cycles/{int:cycle_id}/sign-off-summary",
    url_name="api-cycle-sign-off-summary",
    operation_id="getSignOffSummary",
    summary="What an approver signs: decisions, accepted risks, pending remediations, deciders",
    description="The same summary as the cycle page; its `digest` is sent back as "
    "`summary_hash` when signing off (required). Once signed off: the summary as signed. "
    "`changed_since_frozen` lists the decided items whose fresh data changed (`changes` "
    "says what) or is gone since the cycle froze them; the digest covers it, so a change "
    "between reading and signing answers 409.",
    auth=TokenAuth(Capability.VIEW, scopes=PIPELINE),
    response={200: dict, **failures(404)},
)
def sign_off_summary_of(request, cycle_id: CycleId):
    cycle = get_cycle(cycle_id)
    if cycle.signed_summary is not None:
        # What the approver signed, as stored at sign-off: recomputed, it drifts (a remediation
        # verified since, a decider renamed) from the signed hash.
        return cycle.signed_summary
    return asdict(sign_off_summary(cycle=cycle))


@api.get(
    "/findings",
    url_name="api-findings",
    operation_id="listFindings",
    summary="Findings, filtered like the Findings page",
    description=f"{FINDINGS_PAGE_SIZE} a page unless page_size asks for up to {MAX_PAGE_SIZE}. "
    "Pages stop at FINDINGS_LIST_MAX_ROWS rows (10,000 by default): narrow the filters, or use "
    "the CSV/JSON exports, to read further.",
    auth=TokenAuth(Capability.VIEW, scopes=PIPELINE),
    response={200: list[schemas.Finding], **failures(400, 404)},
)
@paginate(
    SizedPageNumbers,
    page_size=lambda: FINDINGS_PAGE_SIZE,
    total=findings_total,
    # The page's rows with their accounts and when each account was last collected (what
    # "last seen" of an open finding is): one statement, not one more query per finding.
    read=read_findings,
)
def list_findings(request, filters: Query[inputs.FindingQuery]):
    return filtered_findings(filters=FindingFilters.from_params(params=filters.model_dump()))


@api.get(
    "/principals/suggestion",
    url_name="api-principal-suggestion",
    operation_id="getPolicySuggestion",
    summary="The least-privilege suggestion for one user or role",
    description="What the principal is granted, what it used, and the policies it should have "
    "(as `manage.py suggest_policy --format json` prints). 404 for an unknown or "
    "service-linked principal.",
    auth=TokenAuth(Capability.VIEW, scopes=PIPELINE),
    response={200: dict, **failures(400, 404)},
)
def principal_suggestion(request, query: Query[inputs.SuggestionQuery]):
    try:
        return suggestion_for(arn=query.arn, unused_days=query.unused_days)
    except LookupError as missing:
        raise ApiError(404, {"error": str(missing)}) from None


@api.get(
    "/schema",
    url_name="api-schema",
    operation_id="getSchema",
    summary="This OpenAPI document (no token needed)",
    auth=None,
    response={200: dict, 400: schemas.FieldErrors, 405: schemas.Error, 500: schemas.Error},
)
def openapi_schema(request):
    return OPENAPI


# Last: any other path under /api/ answers JSON, not the HTML 404 page.
@api.api_operation(
    ["GET", "POST", "PUT", "PATCH", "DELETE"],
    "/{path:rest}",
    url_name="api-unknown",
    # Any token learns that the path does not exist, whatever its scope.
    auth=TokenAuth(scopes=ApiToken.Scope),
    include_in_schema=False,
)
def unknown(request, rest: str):
    raise ApiError(404, {"error": "No such API endpoint; see /api/schema."})


# --- The OpenAPI document ---------------------------------------------------------------------

SECURITY_SCHEME = "bearerAuth"
FAILURE_DESCRIPTIONS = {
    400: "Invalid input: one message per field ('body' for a body that is not a JSON object).",
    401: "No token, or an invalid, expired or revoked one.",
    403: "The token's owner may not do this, or the token's scope does not allow it; the "
    "reason is given.",
    404: "No such object (or page).",
    405: "Wrong HTTP method; the Allow header lists the right ones.",
    409: "Someone decided the item since the decision you named (or you named none): their "
    "decision is returned; decide again naming it.",
    413: "The request body is too large.",
    500: "An unexpected error; it has been logged.",
}
# Where an operation's answer means more than its status's usual words (a 409 other than a
# decision conflict, a 200 that may be a cycle found rather than opened).
OPERATION_ANSWER_DESCRIPTIONS = {
    ("registerRelease", 409): "This application's version was signed off with other roles or "
    "notes than this registration names: a release that changes anything needs a new version "
    "number. The signed-off cycle is named in cycle_id.",
    ("registerRelease", 200): "The version's cycle already exists, `created` false: in review "
    "(`changes` says what this registration changed in it, null when nothing), or signed off "
    "with the roles and notes this registration names (`changes` null; its `state` says "
    "signed_off).",
    ("signOffCycle", 409): "The sign-off summary changed since the one you read "
    "(summary_hash): nothing is signed; the current summary is returned. Read it, then sign "
    "against its digest.",
}


def openapi_document() -> dict:
    """Ninja's document as JSON, with the scheme name and error descriptions clients know, and
    the token scopes each operation takes (x-token-scopes)."""
    token_scopes = {
        operation.operation_id or api.get_openapi_operation_id(operation): [
            scope.value for scope in ApiToken.Scope if scope in operation.auth_callbacks[0].scopes
        ]
        for path_view in api.default_router.path_operations.values()
        for operation in path_view.operations
        if operation.auth_callbacks
    }
    document = json.loads(
        json.dumps(api.get_openapi_schema(path_prefix=PATH_PREFIX), cls=NinjaJSONEncoder)
    )
    schemes = document["components"]["securitySchemes"]
    schemes[SECURITY_SCHEME] = schemes.pop(TokenAuth.__name__)
    for operations in document["paths"].values():
        for operation in operations.values():
            if "security" in operation:
                operation["security"] = [{SECURITY_SCHEME: []}]
                operation["x-token-scopes"] = token_scopes[operation["operationId"]]
            for status, answer in operation["responses"].items():
                answer["description"] = OPERATION_ANSWER_DESCRIPTIONS.get(
                    (operation["operationId"], int(status)),
                    FAILURE_DESCRIPTIONS.get(int(status), answer["description"]),
                )
            if "401" in operation["responses"]:
                operation["responses"]["401"]["headers"] = {
                    "WWW-Authenticate": {"schema": {"type": "string"}, "example": WWW_AUTHENTICATE}
                }
    return document


OPENAPI = openapi_document()
