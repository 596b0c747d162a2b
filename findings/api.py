"""The JSON API: a bearer token names the person, then the same domain functions as the pages.

Every view is declared with `api_view(...)`, which authenticates the token (never a session
cookie, so no CSRF token either), restricts the methods, checks the capabilities and turns domain
exceptions into JSON errors. The views themselves parse, call one domain function, serialize.
The OpenAPI document describing all of this is findings/api_schema.py.
"""

import json
import logging
import re
from collections.abc import Callable, Iterable
from datetime import date
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.core.validators import validate_email
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from accounts.models import User
from accounts.permissions import Capability, can
from accounts.tokens import user_for_token
from findings import review
from findings.api_schema import OPENAPI
from findings.evidence_pack import build_evidence_pack, pack_filename, zip_bytes
from findings.models import Decision, ReviewCycle, ReviewItem, Severity
from findings.queries import SORTS, STATUSES, FindingFilters, filtered_findings, finding_record

log = logging.getLogger(__name__)

CYCLES_PAGE_SIZE = 50
FINDINGS_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_ROLE_ARNS = 1000
WWW_AUTHENTICATE = 'Bearer realm="iamreview"'


class ApiError(Exception):
    def __init__(self, status: int, body: dict, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}
        super().__init__(body)

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def invalid(errors: dict[str, str]) -> ApiError:
    return ApiError(400, {"errors": errors})


def not_found(what: str) -> ApiError:
    return ApiError(404, {"error": f"No such {what}."})


# --- The decorator every API view wears -------------------------------------------------------


def authenticate(request) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if not header:
        raise ApiError(
            401,
            {"error": "Authenticate with an API token: 'Authorization: Bearer <token>'."},
            {"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(
            401,
            {"error": "Use the Bearer scheme: 'Authorization: Bearer <token>'."},
            {"WWW-Authenticate": f'{WWW_AUTHENTICATE}, error="invalid_request"'},
        )
    user = user_for_token(raw.strip())
    if user is None:
        raise ApiError(
            401,
            {"error": "The API token is invalid or has been revoked."},
            {"WWW-Authenticate": f'{WWW_AUTHENTICATE}, error="invalid_token"'},
        )
    return user


def check_capabilities(user, required: Iterable[Capability], any_of: Iterable[Capability]):
    for capability in required:
        if not can(user, capability):
            raise ApiError(403, {"error": f"Requires the {capability.value} permission."})
    any_of = list(any_of)
    if any_of and not any(can(user, capability) for capability in any_of):
        names = " or ".join(c.value for c in any_of)
        raise ApiError(403, {"error": f"Requires the {names} permission."})


def domain_error_response(exc: Exception) -> JsonResponse:
    if isinstance(exc, review.Invalid):
        return JsonResponse({"errors": exc.errors}, status=400)
    if isinstance(exc, review.Conflict):
        current = decision_record(exc.current) if exc.current else None
        return JsonResponse({"error": str(exc), "current_decision": current}, status=409)
    return JsonResponse({"error": str(exc) or "Not allowed."}, status=403)


def api_view(
    *capabilities: Capability,
    methods: tuple[str, ...] = ("GET",),
    any_of: tuple[Capability, ...] = (),
    public: bool = False,
) -> Callable:
    """Bearer-token API view: the token's owner needs every capability listed (and one of
    `any_of`, when given). The URL-walking test reads the attributes set at the end."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                if not public:
                    request.user = authenticate(request)
                if request.method not in methods:
                    raise ApiError(
                        405,
                        {"error": f"Use {' or '.join(methods)} here, not {request.method}."},
                        {"Allow": ", ".join(methods)},
                    )
                check_capabilities(request.user, capabilities, any_of)
                response = view(request, *args, **kwargs)
            except ApiError as exc:
                response = exc.response()
            except (review.Invalid, review.Conflict, review.Forbidden, PermissionDenied) as exc:
                response = domain_error_response(exc)
            except Http404:
                response = JsonResponse({"error": "Not found."}, status=404)
            except Exception:
                # The details go to the log, never to the client.
                log.exception("API error: %s %s", request.method, request.path)
                response = JsonResponse(
                    {"error": "Internal error; it has been logged."}, status=500
                )
            response["Cache-Control"] = "no-store"
            return response

        wrapper.api = True
        wrapper.api_public = public
        wrapper.http_methods = tuple(methods)
        wrapper.required_capabilities = frozenset(capabilities)
        wrapper.any_capabilities = frozenset(any_of)
        return csrf_exempt(login_not_required(wrapper))

    return decorator


# --- Reading input ----------------------------------------------------------------------------

DATE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def json_object(request) -> dict:
    if request.content_type != "application/json":
        raise invalid({"body": "Send a JSON object with 'Content-Type: application/json'."})
    try:
        data = json.loads(request.body or b"")
    except RequestDataTooBig:
        raise ApiError(413, {"error": "The request body is too large."}) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid({"body": f"Malformed JSON: {exc}"}) from None
    if not isinstance(data, dict):
        raise invalid({"body": "Send a JSON object, not an array or a single value."})
    return data


class Body:
    """Typed fields of a JSON object; collects one error per field, unknown fields included."""

    def __init__(self, request, fields: set[str]):
        self.data = json_object(request)
        self.errors = {name: "Unknown field." for name in self.data if name not in fields}

    def text(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.errors[name] = "Must be a string."
            return ""
        return value

    def texts(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.errors[name] = "Must be a list of strings."
            return []
        return value

    def day(self, name: str) -> date | None:
        value = self.data.get(name)
        if value in (None, ""):
            return None
        try:
            if not (isinstance(value, str) and DATE_FORMAT.match(value)):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self.errors[name] = "Must be a date written YYYY-MM-DD."
            return None

    def integer(self, name: str) -> int | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.errors[name] = "Must be an integer id."
            return None
        return value

    def person(self, name: str) -> User | None:
        address = self.text(name).strip()
        if not address or name in self.errors:
            return None
        try:
            validate_email(address)
        except ValidationError:
            self.errors[name] = "Enter a valid email address."
            return None
        user = User.objects.filter(email__iexact=address).first()
        if user is None:
            self.errors[name] = f"No one with the email {address} uses iamreview."
        return user

    def check(self) -> None:
        if self.errors:
            raise invalid(self.errors)


def query_choice(request, name: str, choices: Iterable[str]) -> str:
    value = request.GET.get(name, "").strip()
    choices = list(choices)
    if value and value not in choices:
        raise invalid({name: f"Choose one of: {', '.join(choices)}."})
    return value


def query_int(request, name: str, *, default: int, maximum: int | None = None) -> int:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1 or (maximum and int(raw) > maximum):
        limit = f" up to {maximum}" if maximum else ""
        raise invalid({name: f"Must be a whole number from 1{limit}."})
    return int(raw)


def paginate(request, queryset, *, page_size: int) -> tuple[list, dict]:
    """One page of rows (two queries: count and page) and the envelope around it."""
    page = query_int(request, "page", default=1)
    count = queryset.count()
    rows = list(queryset[(page - 1) * page_size : page * page_size])
    if page > 1 and not rows:
        raise ApiError(404, {"error": f"There is no page {page}."})

    def link(number: int) -> str:
        params = request.GET.copy()
        params["page"] = str(number)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

    envelope = {
        "count": count,
        "next": link(page + 1) if page * page_size < count else None,
        "previous": link(page - 1) if page > 1 else None,
    }
    return rows, envelope


# --- Writing output ---------------------------------------------------------------------------


def iso(value) -> str | None:
    return value.isoformat() if value else None


def email(user) -> str | None:
    return user.email if user else None


def decision_record(decision: Decision) -> dict:
    return {
        "id": decision.pk,
        "item": decision.item_id,
        "kind": decision.kind,
        "justification": decision.justification,
        "expires_on": iso(decision.expires_on),
        "delegate_to": email(decision.delegate_to),
        "decided_by": email(decision.decided_by),
        "decided_at": iso(decision.decided_at),
        "supersedes": decision.supersedes_id,
        "bulk": decision.bulk,
    }


def cycle_summary(cycle: ReviewCycle, *, decided_count: int) -> dict:
    return {
        "id": cycle.pk,
        "kind": cycle.kind,
        "state": cycle.state,
        "title": cycle.title,
        "period": cycle.period,
        "application": cycle.application,
        "version": cycle.version,
        "opened_at": iso(cycle.opened_at),
        "opened_by": email(cycle.opened_by),
        "due_on": iso(cycle.due_on),
        "overdue": cycle.state == ReviewCycle.State.OPEN and cycle.due_on < timezone.localdate(),
        "population_hash": cycle.population_hash,
        "population_count": cycle.population_count,
        "decided_count": decided_count,
        "signed_off_by": email(cycle.signed_off_by),
        "signed_off_at": iso(cycle.signed_off_at),
    }


def item_record(item: ReviewItem) -> dict:
    return {
        "id": item.pk,
        "account": item.account.account_id,
        "subject_type": item.subject_type,
        "subject_arn": item.subject_arn,
        "title": item.title,
        "severity": item.severity or None,
        "assignee": email(item.assignee),
        "latest_decision": decision_record(item.latest_decision) if item.latest_decision else None,
        "decided": item.is_decided,
        "remediation": item.remediation or None,
        "evidence_hash": item.evidence_hash,
    }


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
