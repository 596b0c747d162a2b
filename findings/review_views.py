"""The review pages: cycles, one cycle's queue, one item's evidence and decisions, bulk
decisions, assignment, sign-off, the evidence pack and the audit log.

Views parse input, call one function of findings.review and present the result; every rule
(segregation of duties, conflicts, the lock after sign-off) is enforced there.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode, urlparse

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.permissions import Capability, can, requires
from findings.audit import verify_chain
from findings.inventory import REASON_WORDS
from findings.models import AuditEntry, AwsAccount, Decision, ReviewCycle, ReviewItem
from findings.review import (
    Conflict,
    DecisionInput,
    Forbidden,
    Invalid,
    assign_items,
    bulk_decide,
    check_may_decide,
    check_may_sign_off,
    decide_item,
    open_cycle,
    open_release_cycle,
    reviewers,
    sign_off_cycle,
)
from findings.review_evidence import current_specs
from findings.review_forms import (
    BULK_KINDS,
    DECISION_HELP,
    SORT_LABELS,
    SORTS,
    STATUS_LABELS,
    BulkForm,
    DecisionForm,
    OpenCycleForm,
    QueueFilters,
    ReleaseForm,
    SignOffForm,
    add_domain_errors,
)

PER_PAGE = 25
CYCLES_PER_PAGE = 25
AUDIT_PER_PAGE = 50
SEVERITY_CHOICES = [
    ("critical", "Critical"),
    ("high", "High"),
    ("medium", "Medium"),
    ("low", "Low"),
    ("none", "No finding (clean)"),
]
CLEAN_CONFIRMATION = "Confirmed clean: no findings when reviewed."


def render_partial(request, template: str, context: dict, *, target: str, status: int = 200):
    """The whole page, or only the partial named like the element htmx swaps."""
    if request.htmx and request.htmx.target == target and not request.htmx.history_restore_request:
        template = f"{template}#{target}"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


# --- Cycles: state and progress -------------------------------------------------------------


def describe_cycle(cycle: ReviewCycle, *, total: int, decided: int, today) -> ReviewCycle:
    """Attach what every page shows about a cycle: progress, state in words, overdue."""
    signed = cycle.state == ReviewCycle.State.SIGNED_OFF
    cycle.total, cycle.decided = total, decided
    cycle.remaining = total - decided
    cycle.is_overdue = not signed and cycle.due_on < today
    if signed:
        cycle.status_key, cycle.status_label = "signed-off", "Signed off"
    elif cycle.remaining <= 0:
        cycle.status_key, cycle.status_label = "waiting", "Waiting for sign-off"
    else:
        cycle.status_key, cycle.status_label = "in-review", "In review"
    return cycle


def with_progress(cycle: ReviewCycle) -> ReviewCycle:
    counts = cycle.items.aggregate(
        total=Count("id"), decided=Count("id", filter=Q(is_decided=True))
    )
    return describe_cycle(cycle, today=timezone.localdate(), **counts)


def cycles_with_progress():
    return (
        ReviewCycle.objects.annotate(
            item_count=Count("items"),
            decided_count=Count("items", filter=Q(items__is_decided=True)),
        )
        .select_related("signed_off_by")
        .prefetch_related("scope_accounts")
    )


# --- The list of cycles ---------------------------------------------------------------------


def may_register_releases(user) -> bool:
    return can(user, Capability.DECIDE) or can(user, Capability.MANAGE_ACCOUNTS)


def render_review_list(request, *, open_form=None, release_form=None):
    today = timezone.localdate()
    open_cycles = [
        describe_cycle(c, total=c.item_count, decided=c.decided_count, today=today)
        for c in cycles_with_progress()
        .filter(state=ReviewCycle.State.OPEN)
        .order_by("due_on", "opened_at")
    ]
    signed = Paginator(
        cycles_with_progress()
        .filter(state=ReviewCycle.State.SIGNED_OFF)
        .order_by("-signed_off_at", "-id"),
        CYCLES_PER_PAGE,
    ).get_page(request.GET.get("page"))
    for cycle in signed:
        describe_cycle(cycle, total=cycle.item_count, decided=cycle.decided_count, today=today)
    may_open = can(request.user, Capability.MANAGE_ACCOUNTS)
    context = {
        "open_cycles": open_cycles,
        "signed_page": signed,
        "overdue_count": sum(1 for c in open_cycles if c.is_overdue),
        "open_form": (open_form or OpenCycleForm()) if may_open else None,
        "release_form": (release_form or ReleaseForm())
        if may_register_releases(request.user)
        else None,
    }
    return render(request, "findings/review.html", context)


@require_GET
@requires(Capability.VIEW)
def review(request):
    return render_review_list(request)


# Declared before require_POST so that a person without the capability gets a 403, not a 405.
@requires(Capability.MANAGE_ACCOUNTS)
@require_POST
def review_open(request):
    form = OpenCycleForm(request.POST)
    if not form.is_valid():
        return render_review_list(request, open_form=form)
    try:
        cycle = open_cycle(
            kind=form.cleaned_data["kind"],
            opened_by=request.user,
            accounts=form.scope_accounts(),
            title=form.cleaned_data["title"].strip(),
        )
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(
        request, f"Opened “{cycle.title}” with {cycle.population_count} items to review."
    )
    return redirect("review_cycle", cycle.pk)


# Reviewers and administrators register releases: findings.review decides (Forbidden -> 403).
@requires(Capability.VIEW)
@require_POST
def review_release(request):
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        return render_review_list(request, release_form=form)
    data = form.cleaned_data
    try:
        cycle = open_release_cycle(
            application=data["application"],
            version=data["version"],
            role_arns=form.role_arn_list(),
            notes=data["notes"],
            opened_by=request.user,
        )
    except Invalid as exc:
        add_domain_errors(form, exc.errors)
        return render_review_list(request, release_form=form)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(
        request, f"Registered {cycle.title}: {cycle.population_count} roles to review."
    )
    if cycle.unknown_role_arns:
        count = len(cycle.unknown_role_arns)
        messages.warning(
            request,
            f"{count} role ARN{'s' if count != 1 else ''} of this release "
            f"{'are' if count != 1 else 'is'} not in the inventory: see below.",
        )
    return redirect("review_cycle", cycle.pk)


# --- One cycle: the queue -------------------------------------------------------------------


def fresh_hashes(cycle: ReviewCycle) -> dict[str, str]:
    """Each subject's evidence hash as it would be frozen now (one population build per page)."""
    return {key: spec.evidence_hash for key, spec in current_specs(cycle).items()}


def freshness(item: ReviewItem, fresh: dict[str, str]) -> str:
    """ "changed" or "gone" when fresh data differs from what this cycle froze; "" otherwise."""
    current = fresh.get(item.subject_key)
    if current is None:
        return "gone"
    return "" if current == item.evidence_hash else "changed"


def queue_items(cycle: ReviewCycle, filters: QueueFilters, user):
    items = (
        cycle.items.select_related(
            "account",
            "assignee",
            "latest_decision__decided_by",
            "latest_decision__delegate_to",
            "verified_by_run",
        )
        .defer("frozen_evidence")
        .order_by(*SORTS[filters.sort])
    )
    if filters.account:
        items = items.filter(account__account_id=filters.account)
    if filters.severity == "none":
        items = items.filter(severity="")
    elif filters.severity:
        items = items.filter(severity=filters.severity)
    if filters.assignee == "me":
        items = items.filter(assignee=user)
    elif filters.assignee == "unassigned":
        items = items.filter(assignee=None)
    elif filters.assignee:
        items = items.filter(assignee_id=int(filters.assignee))
    if filters.status == "undecided":
        items = items.filter(is_decided=False)
    elif filters.status == "decided":
        items = items.filter(is_decided=True)
    return items


def may_select(user, cycle: ReviewCycle) -> bool:
    """Rows get checkboxes for those who bulk-decide or assign, while the cycle is open."""
    return cycle.state == ReviewCycle.State.OPEN and (
        can(user, Capability.DECIDE) or can(user, Capability.MANAGE_ACCOUNTS)
    )


def queue_context(request, cycle: ReviewCycle, filters: QueueFilters) -> dict:
    page = Paginator(queue_items(cycle, filters, request.user), PER_PAGE).get_page(
        request.GET.get("page")
    )
    fresh = fresh_hashes(cycle)
    for item in page:
        item.freshness = freshness(item, fresh)
    base = reverse("review_cycle", args=[cycle.pk])

    def page_url(number):
        return f"{base}?{filters.query(page=number)}"

    return {
        "cycle": cycle,
        "filters": filters,
        "page": page,
        "filtered": filters != QueueFilters(sort=filters.sort),
        "previous_url": page_url(page.previous_page_number()) if page.has_previous() else None,
        "next_url": page_url(page.next_page_number()) if page.has_next() else None,
        "back": filters.query(page=page.number if page.number > 1 else ""),
        # Bulk decisions report items decided by someone else after this moment as conflicts.
        "seen_at": timezone.now().isoformat(),
        "selectable": may_select(request.user, cycle),
        "may_bulk_decide": cycle.state == ReviewCycle.State.OPEN
        and can(request.user, Capability.DECIDE),
        "bulk_kinds": BULK_KINDS,
        "reviewers": reviewers(),
    }


def sign_off_context(request, cycle: ReviewCycle, *, form=None, error: str = "") -> dict:
    """The sign-off form for an approver who may sign off now, or why nobody can yet."""
    context = {"sign_off_form": None, "sign_off_blocker": error, "sign_off_error": bool(error)}
    if cycle.state == ReviewCycle.State.SIGNED_OFF or error:
        return context
    if can(request.user, Capability.SIGN_OFF):
        try:
            check_may_sign_off(cycle=cycle, approver=request.user)
        except Forbidden as exc:
            context["sign_off_blocker"] = str(exc)
        else:
            context["sign_off_form"] = form or SignOffForm()
    elif cycle.remaining:
        remaining = cycle.remaining
        context["sign_off_blocker"] = (
            f"{remaining} item{'s' if remaining != 1 else ''} still "
            f"wait{'s' if remaining == 1 else ''} for a decision."
        )
    else:
        context["sign_off_blocker"] = "Every item is decided: an approver can sign the cycle off."
    return context


def load_cycle(pk: int) -> ReviewCycle:
    return with_progress(
        get_object_or_404(
            ReviewCycle.objects.select_related("opened_by", "signed_off_by").prefetch_related(
                "scope_accounts"
            ),
            pk=pk,
        )
    )


def render_cycle(request, cycle: ReviewCycle, *, status: int = 200, **sign_off):
    filters = QueueFilters.from_params(request.GET)
    context = queue_context(request, cycle, filters)
    if not (request.htmx and request.htmx.target == "queue"):
        context.update(
            sign_off_context(request, cycle, **sign_off),
            accounts=AwsAccount.objects.filter(pk__in=cycle.items.values("account_id")).order_by(
                "name"
            ),
            severities=SEVERITY_CHOICES,
            statuses=STATUS_LABELS.items(),
            sorts=SORT_LABELS.items(),
            may_export=can(request.user, Capability.EXPORT),
        )
    return render_partial(request, "findings/cycle.html", context, target="queue", status=status)


@require_GET
@requires(Capability.VIEW)
def review_cycle(request, pk: int):
    return render_cycle(request, load_cycle(pk))


def selected_ids(request) -> list[int]:
    return [int(value) for value in request.POST.getlist("items") if value.isdigit()][:1000]


def back_to_queue(cycle: ReviewCycle, back: str):
    """The queue as the person left it (filters and page), rebuilt from known parameters."""
    params = QueryDict(back or "")
    query = QueueFilters.from_params(params).query(page=params.get("page", "")[:6])
    return redirect(reverse("review_cycle", args=[cycle.pk]) + (f"?{query}" if query else ""))


def titles(pairs, limit: int = 5) -> str:
    names = [f"“{item.title}” ({reason})" for item, reason in pairs[:limit]]
    more = len(pairs) - limit
    return "; ".join(names) + (f"; and {more} more" if more > 0 else "")


@require_POST
@requires(Capability.DECIDE)
def review_bulk(request, pk: int):
    cycle = get_object_or_404(ReviewCycle, pk=pk)
    form = BulkForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    back = back_to_queue(cycle, data.get("back", ""))
    ids = selected_ids(request)
    if not ids:
        messages.error(request, "Select the items to decide first.")
        return back
    if form.errors or not data.get("seen_at"):
        messages.error(request, "The form was incomplete; reload the page and try again.")
        return back
    items = list(
        cycle.items.filter(pk__in=ids).select_related("cycle", "latest_decision__decided_by")
    )
    skipped = 0
    if request.POST.get("action") == "confirm_clean":
        clean = [item for item in items if not item.severity]
        skipped = len(items) - len(clean)
        items = clean
        decision = DecisionInput(
            kind=Decision.Kind.KEEP,
            justification=data["justification"].strip() or CLEAN_CONFIRMATION,
        )
    else:
        if not data.get("decision"):
            messages.error(request, "Choose the decision for the selected items.")
            return back
        decision = DecisionInput(
            kind=data["decision"],
            justification=data["justification"],
            expires_on=data["expires_on"],
        )
    try:
        result = bulk_decide(
            items=items, actor=request.user, decision=decision, seen_at=data["seen_at"]
        )
    except Invalid as exc:
        for message in exc.errors.values():
            messages.error(request, f"Nothing was decided: {message}")
        return back
    label = Decision.Kind(decision.kind).label
    if result.decided:
        count = len(result.decided)
        messages.success(request, f"Decided {count} item{'s' if count != 1 else ''}: {label}.")
    if result.conflicts:
        messages.warning(
            request,
            f"{len(result.conflicts)} not decided because someone decided them after you "
            f"loaded the page (conflicts): {titles(result.conflicts)}. Review them again.",
        )
    if result.refused:
        messages.error(request, f"{len(result.refused)} refused: {titles(result.refused)}.")
    if skipped:
        messages.info(
            request,
            f"{skipped} selected item{'s' if skipped != 1 else ''} with findings "
            f"{'were' if skipped != 1 else 'was'} left for an individual decision.",
        )
    return back


# Reviewers and administrators assign: findings.review decides (Forbidden -> 403).
@require_POST
@requires(Capability.VIEW)
def review_assign(request, pk: int):
    cycle = get_object_or_404(ReviewCycle, pk=pk)
    back = back_to_queue(cycle, request.POST.get("back", ""))
    ids = selected_ids(request)
    choice = request.POST.get("assignee", "")
    if not ids:
        messages.error(request, "Select the items to assign first.")
        return back
    if choice == "unassigned":
        assignee = None
    elif choice.isdigit() and (assignee := User.objects.filter(pk=int(choice)).first()):
        pass
    else:
        messages.error(request, "Choose whom to assign the selected items to.")
        return back
    items = list(cycle.items.filter(pk__in=ids).select_related("cycle"))
    try:
        count = assign_items(items=items, assignee=assignee, actor=request.user)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc
    except Invalid as exc:
        for message in exc.errors.values():
            messages.error(request, message)
        return back
    who = assignee.display_name if assignee else "nobody (unassigned)"
    messages.success(request, f"Assigned {count} item{'s' if count != 1 else ''} to {who}.")
    return back


@require_POST
@requires(Capability.SIGN_OFF)
def review_sign_off(request, pk: int):
    cycle = load_cycle(pk)
    form = SignOffForm(request.POST)
    if form.is_valid():
        try:
            sign_off_cycle(
                cycle=cycle, approver=request.user, attestation=form.cleaned_data["attestation"]
            )
        except Invalid as exc:
            add_domain_errors(form, exc.errors)
        except Forbidden as exc:
            return render_cycle(request, cycle, status=403, error=str(exc))
        else:
            messages.success(request, f"Signed off “{cycle.title}”. It is now locked.")
            return redirect("review_cycle", cycle.pk)
    return render_cycle(request, cycle, form=form)


@require_GET
@requires(Capability.EXPORT)
def review_evidence_pack(request, pk: int):
    cycle = get_object_or_404(ReviewCycle, pk=pk)
    try:
        from findings.evidence_pack import build_evidence_pack, zip_bytes
    except ImportError:
        return HttpResponse("Evidence packs are not available yet.", status=503)
    content = zip_bytes(build_evidence_pack(cycle))
    name = f"iamreview-cycle-{cycle.pk}-{slugify(cycle.title)[:60]}.zip"
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- One item: evidence, history, decision ---------------------------------------------------

FACT_LABELS = {
    "arn": "ARN",
    "resource": "Resource",
    "resource_type": "Resource type",
    "finding_type": "Finding type",
    "aws_status": "Status in AWS",
    "resource_owner_account": "Resource owner account",
    "analyzed_at": "Analyzed by AWS",
    "user": "User",
    "root": "Root user",
    "created": "Created",
    "password_enabled": "Console password",
    "mfa_active": "MFA active",
    "password_last_used": "Password last used",
    "password_last_changed": "Password last changed",
    "password_next_rotation": "Password next rotation",
    "access_key_1_active": "Access key 1 active",
    "access_key_1_last_rotated": "Access key 1 created or rotated",
    "access_key_1_last_used_date": "Access key 1 last used",
    "access_key_2_active": "Access key 2 active",
    "access_key_2_last_rotated": "Access key 2 created or rotated",
    "access_key_2_last_used_date": "Access key 2 last used",
    "cert_1_last_rotated": "Certificate 1 rotated",
    "cert_2_last_rotated": "Certificate 2 rotated",
    "last_used": "Last used",
    "last_used_region": "Last used in region",
    "last_used_note": "Last use",
    "service_linked": "Service-linked role",
}
CODE_FACTS = {"arn", "resource"}


@dataclass
class Fact:
    label: str
    text: str = ""
    when: datetime | None = None
    absent: bool = False
    code: bool = False


def parse_moment(value) -> datetime | None:
    """An ISO date or datetime from frozen evidence (JSON keeps them as strings)."""
    if not (isinstance(value, str) and len(value) >= 10 and value[4:5] == "-"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def fact_text(value) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def present_facts(facts: dict) -> list[Fact]:
    shown = []
    for key, value in (facts or {}).items():
        if key.endswith("_reason") or key == "details":
            continue
        label = FACT_LABELS.get(key, key.replace("_", " ").capitalize())
        if value is None:
            reason = facts.get(f"{key}_reason")
            if reason:
                shown.append(Fact(label, REASON_WORDS.get(reason, reason), absent=True))
            continue
        if (moment := parse_moment(value)) is not None:
            shown.append(Fact(label, when=moment))
        else:
            shown.append(Fact(label, fact_text(value), code=key in CODE_FACTS))
    return shown


def diff_lines(lines: list[str]) -> list[tuple[str, str]]:
    """Unified diff lines with the class that colours them."""
    classed = []
    for line in lines:
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "added"
        elif line.startswith("-"):
            kind = "removed"
        else:
            kind = "context"
        classed.append((kind, line))
    return classed


def present_evidence(evidence: dict) -> dict:
    facts = evidence.get("facts") or {}
    changes = evidence.get("changes")
    if changes is not None:
        changes = {
            **changes,
            "since_date": parse_moment(changes.get("since")),
            "policies": [
                {**change, "lines": diff_lines(change.get("diff") or [])}
                for change in changes.get("policies") or []
            ],
        }
    return {
        "facts": present_facts(facts),
        "details": [
            json.dumps(detail, indent=2, sort_keys=True) for detail in facts.get("details") or []
        ],
        "findings": [
            {**finding, "why": (finding.get("evidence") or {}).get("why", "")}
            for finding in evidence.get("findings") or []
        ],
        "policies": [
            (label, json.dumps(document, indent=2, sort_keys=True))
            for label, document in (evidence.get("policies") or {}).items()
        ],
        "has_policies": "policies" in evidence,
        "unused_services": evidence.get("unused_services"),
        "changes": changes,
        "returned": evidence.get("returned"),
    }


def load_item(pk: int) -> ReviewItem:
    return get_object_or_404(
        ReviewItem.objects.select_related(
            "cycle",
            "account",
            "assignee",
            "latest_decision__decided_by",
            "latest_decision__delegate_to",
            "verified_by_run",
        ),
        pk=pk,
    )


def in_queue(request, item: ReviewItem) -> bool:
    """Whether the request comes from the item's queue page (whose row and progress update)."""
    if not request.htmx or not request.htmx.current_url:
        return False
    return urlparse(request.htmx.current_url).path == reverse("review_cycle", args=[item.cycle_id])


def item_context(
    request,
    item: ReviewItem,
    *,
    form: DecisionForm | None = None,
    conflict: Conflict | None = None,
    forbidden: str = "",
    saved: bool = False,
) -> dict:
    cycle = item.cycle
    open_ = cycle.state == ReviewCycle.State.OPEN
    may_decide, refusal = False, forbidden
    if open_ and can(request.user, Capability.DECIDE) and not forbidden:
        try:
            check_may_decide(actor=request.user, item=item)
            may_decide = True
        except Forbidden as exc:
            refusal = str(exc)
    if may_decide and form is None:
        form = DecisionForm(
            reviewers=[u for u in reviewers() if u.pk != request.user.pk],
            item_id=item.pk,
            initial={"expected_latest_id": item.latest_decision_id},
        )
    item.freshness = freshness(item, fresh_hashes(cycle))
    return {
        "item": item,
        "cycle": cycle,
        "evidence": present_evidence(item.frozen_evidence or {}),
        "decisions": item.decisions.select_related("decided_by", "delegate_to").order_by(
            "decided_at", "id"
        ),
        "form": form if may_decide else None,
        "decision_radios": [
            (radio, DECISION_HELP.get(radio.data["value"], "")) for radio in form["decision"]
        ]
        if may_decide
        else [],
        "conflict": conflict,
        "refusal": refusal,
        "saved": saved,
        "locked": not open_,
    }


def render_item(request, item: ReviewItem, *, status: int = 200, **kwargs):
    context = item_context(request, item, **kwargs)
    if request.htmx and not request.htmx.history_restore_request:
        if in_queue(request, item) and request.method == "POST":
            # The row, the progress and the sign-off section change with the decision.
            cycle = with_progress(item.cycle)
            context.update(
                cycle=cycle,
                selectable=may_select(request.user, cycle),
                **sign_off_context(request, cycle),
            )
            response = render(request, "findings/item_decided.html", context, status=status)
        else:
            response = render(request, "findings/item.html#item", context, status=status)
    else:
        context["cycle"] = with_progress(item.cycle)
        response = render(request, "findings/item.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@requires(Capability.VIEW)
def review_item(request, pk: int):
    return render_item(request, load_item(pk))


@require_POST
@requires(Capability.DECIDE)
def review_decide(request, pk: int):
    item = load_item(pk)
    form = DecisionForm(
        request.POST,
        reviewers=[u for u in reviewers() if u.pk != request.user.pk],
        item_id=item.pk,
    )
    if not form.is_valid():
        return render_item(request, item, form=form)
    data = form.cleaned_data
    try:
        decide_item(
            item=item,
            actor=request.user,
            decision=DecisionInput(
                kind=data["decision"],
                justification=data["justification"],
                expires_on=data["expires_on"],
                delegate_to=form.delegate(),
            ),
            expected_latest_id=data["expected_latest_id"],
        )
    except Invalid as exc:
        add_domain_errors(form, exc.errors)
        return render_item(request, item, form=form)
    except Conflict as exc:
        item = load_item(pk)
        # Their input stays in the form, now against the decision they have just been shown.
        retry = form.data.copy()
        retry["expected_latest_id"] = item.latest_decision_id or ""
        again = DecisionForm(
            retry,
            reviewers=[u for u in reviewers() if u.pk != request.user.pk],
            item_id=item.pk,
        )
        again.is_valid()
        return render_item(request, item, form=again, conflict=exc)
    except Forbidden as exc:
        return render_item(request, item, forbidden=str(exc), status=403)
    if not request.htmx:
        messages.success(request, "Decision recorded.")
        return redirect("review_item", pk)
    return render_item(request, load_item(pk), saved=True)


# --- The audit log --------------------------------------------------------------------------


def as_json(value) -> str:
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True, default=str)


@require_GET
@requires(Capability.EXPORT)
def review_audit(request):
    actions = list(
        AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
    )
    action = request.GET.get("action", "")
    if action not in actions:
        action = ""
    entries = AuditEntry.objects.order_by("-id")
    if action:
        entries = entries.filter(action=action)
    page = Paginator(entries, AUDIT_PER_PAGE).get_page(request.GET.get("page"))
    for entry in page:
        entry.before_json, entry.after_json = as_json(entry.before), as_json(entry.after)
    base = reverse("review_audit")

    def page_url(number):
        return f"{base}?{urlencode({k: v for k, v in (('action', action), ('page', number)) if v})}"

    context = {
        "page": page,
        "actions": actions,
        "action": action,
        "previous_url": page_url(page.previous_page_number()) if page.has_previous() else None,
        "next_url": page_url(page.next_page_number()) if page.has_next() else None,
    }
    if not (request.htmx and request.htmx.target == "audit-table"):
        context["verification"] = verify_chain()
    return render_partial(request, "findings/audit.html", context, target="audit-table")
