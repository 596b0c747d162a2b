"""The review pages: cycles, one cycle's queue, one item's evidence and decisions, bulk
decisions, assignment, sign-off, the evidence pack and the audit log.

Views parse input, call one function of findings.reviews.services and present the result; every rule
(segregation of duties, conflicts, the lock after sign-off) is enforced there. What the pages
show is built in findings/reviews/queue.py (the lists) and findings/reviews/display.py (one item).
"""

from urllib.parse import urlparse

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event
from fetch_metadata.decorators import fetch_metadata_policy

from accounts.models import User
from accounts.permissions import Capability, requires
from findings.audit.selectors import audit_entries, audit_records, parse_audit_filters
from findings.audit.verify import forget_verification
from findings.export.tables import csv_chunks
from findings.models import Decision, ReviewCycle, ReviewItem
from findings.reviews.display import item_context, load_item
from findings.reviews.evidence import is_clean
from findings.reviews.evidence_pack import build_evidence_pack, record_export, zip_bytes
from findings.reviews.forms import (
    BULK_KINDS,
    MAX_COMMENT,
    BulkForm,
    DecisionForm,
    OpenCycleForm,
    QueueFilters,
    ReleaseForm,
    SignOffForm,
    add_domain_errors,
)
from findings.reviews.queue import (
    audit_context,
    cycle_context,
    load_cycle,
    may_select,
    review_list_context,
    sign_off_context,
    with_progress,
)
from findings.reviews.releases import ReleaseSignedOff, open_release_cycle
from findings.reviews.services import (
    AlreadyOpen,
    Conflict,
    DecisionInput,
    Forbidden,
    Invalid,
    assign_items,
    bulk_decide,
    decide_item,
    may_download_evidence,
    open_cycle_by_hand,
    reviewer_choices,
    sign_off_cycle,
)
from findings.reviews.summary import sign_off_summary
from iamreview.input_guard import parse_id

CLEAN_CONFIRMATION = "Confirmed clean: no findings when reviewed."
AUDIT_COLUMNS = [
    "id",
    "at",
    "actor",
    "action",
    "action_words",
    "target_type",
    "target_id",
    "target_label",
    "before",
    "after",
    "entry_hash",
    "previous_hash",
]


def render_partial(request, template: str, context: dict, *, target: str, status: int = 200):
    """The whole page, or only the partial named like the element htmx swaps."""
    if request.htmx and request.htmx.target == target and not request.htmx.history_restore_request:
        template = f"{template}#{target}"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


# --- The list of cycles ---------------------------------------------------------------------


def render_review_list(request, *, open_form=None, release_form=None):
    context = review_list_context(request, open_form=open_form, release_form=release_form)
    return render(request, "findings/reviews/review.html", context)


@requires(Capability.VIEW)
@require_GET
def review(request):
    return render_review_list(request)


@requires(Capability.MANAGE_ACCOUNTS)
@require_POST
def review_open(request):
    form = OpenCycleForm(request.POST)
    if not form.is_valid():
        return render_review_list(request, open_form=form)
    try:
        cycle = open_cycle_by_hand(
            kind=form.cleaned_data["kind"],
            opened_by=request.user,
            accounts=form.scope_accounts(),
            title=form.cleaned_data["title"].strip(),
            open_another=form.cleaned_data["open_another"],
        )
    except AlreadyOpen as exc:
        # A second click, or not knowing the schedule opened it, would put every item in
        # front of reviewers twice: say which is open, and ask.
        form.add_error(None, f"{exc}. Review it there, or tick “Open another anyway”.")
        return render_review_list(request, open_form=form)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(
        request, f"Opened “{cycle.title}” with {cycle.population_count} items to review."
    )
    return redirect("review_cycle", cycle.pk)


# Reviewers and administrators register releases: reviews.services decides (Forbidden -> 403).
@requires(Capability.VIEW)
@require_POST
def review_release(request):
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        return render_review_list(request, release_form=form)
    data = form.cleaned_data
    try:
        cycle, opened, changes = open_release_cycle(
            application=data["application"],
            version=data["version"],
            role_arns=form.role_arn_list(),
            notes=data["notes"],
            opened_by=request.user,
        )
    except Invalid as exc:
        add_domain_errors(form, exc.errors)
        return render_review_list(request, release_form=form)
    except ReleaseSignedOff as exc:
        form.add_error("version", str(exc))
        return render_review_list(request, release_form=form)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc
    if not opened and changes:
        messages.warning(
            request,
            f"{cycle.title} is still in review, here: no second cycle was opened. This "
            f"registration changed its roles: {changes.describe()}.",
        )
        return redirect("review_cycle", cycle.pk)
    if not opened and cycle.state == ReviewCycle.State.SIGNED_OFF:
        messages.info(
            request,
            f"{cycle.title} was already reviewed and signed off with these roles, here. No "
            "second cycle was opened.",
        )
        return redirect("review_cycle", cycle.pk)
    if not opened:
        messages.info(
            request,
            f"{cycle.title} was already registered with these roles: its review is still "
            "open, here. No second cycle was opened.",
        )
        return redirect("review_cycle", cycle.pk)
    count = cycle.population_count
    messages.success(
        request, f"Registered {cycle.title}: {count} role{pluralize(count)} to review."
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


def render_cycle(request, cycle: ReviewCycle, **options):
    context = cycle_context(request, cycle, **options)
    return render_partial(request, "findings/reviews/cycle.html", context, target="queue")


@requires(Capability.VIEW)
@require_GET
def review_cycle(request, pk: int):
    # A refused bulk decision or sign-off, shown once after its redirect with every input kept.
    options = {}
    if not request.htmx:
        if bulk := request.session.pop(refused_bulk_key(pk), None):
            options["bulk"] = {**bulk, "selected": set(bulk["selected"])}
        if refused := request.session.pop(refused_sign_off_key(pk), None):
            options.update(refused_sign_off_options(refused))
    return render_cycle(request, load_cycle(pk), **options)


MAX_SELECTED = 1000


def selected_ids(request) -> tuple[list[int], str]:
    """The ids of the selected items, and why the selection is refused ("" when it is not):
    a value that is no item id, or more items than one request decides. A selection is taken
    whole or not at all: dropping what cannot be read would decide the rest unasked."""
    values = request.POST.getlist("items")
    if len(values) > MAX_SELECTED:
        return [], f"{len(values)} items were selected; select at most {MAX_SELECTED} at once."
    ids = [parse_id(value) for value in values]
    readable = [pk for pk in ids if pk is not None]  # kept checked on the refused form
    if bad := [value for value, pk in zip(values, ids, strict=True) if pk is None]:
        shown = ", ".join(repr(value[:20]) for value in bad[:5])
        return (
            readable,
            f"{shown} {pluralize(len(bad), 'is,are')} not an item id. Reload the page and "
            "select again.",
        )
    return readable, ""


def not_in_cycle(ids: list[int], items) -> str:
    """Why a selection naming items this cycle does not hold is refused, or ""."""
    if not (missing := sorted(set(ids) - {item.pk for item in items})):
        return ""
    shown = ", ".join(map(str, missing[:10])) + (" and more" if len(missing) > 10 else "")
    return (
        f"item{pluralize(len(missing))} {shown} {pluralize(len(missing), 'is,are')} not in "
        "this cycle. Reload the page and select again."
    )


def back_to_queue(cycle: ReviewCycle, back: str):
    """The queue as the person left it (filters and page), rebuilt from known parameters."""
    params = QueryDict(back or "")
    query = QueueFilters.from_params(params).query(page=params.get("page", "")[:6])
    return redirect(reverse("review_cycle", args=[cycle.pk]) + (f"?{query}" if query else ""))


def titles(pairs, limit: int = 5) -> str:
    names = [f"“{item.title}” ({reason})" for item, reason in pairs[:limit]]
    more = len(pairs) - limit
    return "; ".join(names) + (f"; and {more} more" if more > 0 else "")


def refused_bulk_key(cycle_id: int) -> str:
    return f"review_bulk_refused:{cycle_id}"


def bulk_refused(request, cycle: ReviewCycle, ids: list[int], *errors: str):
    """Back to the queue (a redirect: reloading it sends nothing again) with every input of
    the bulk form kept, and why nothing was decided: kept in the session for the next view of
    the queue."""
    request.session[refused_bulk_key(cycle.pk)] = {
        "selected": ids,
        "decision": request.POST.get("decision", "")[:40],
        "justification": request.POST.get("justification", "")[:MAX_COMMENT],
        "expires_on": request.POST.get("expires_on", "")[:10],
        "errors": list(errors),
    }
    return back_to_queue(cycle, request.POST.get("back", "")[:500])


def accepts_risk(form: BulkForm) -> bool:
    """Whether the bulk form asks to accept a risk: the only decision its "Until" (always sent,
    filled in with the proposed expiry) means anything for."""
    return form.data.get("decision") == Decision.Kind.ACCEPT_RISK


def bulk_form_errors(form: BulkForm) -> list[str]:
    """What is wrong with the bulk form, in words that say what to change."""
    errors = []
    if "decision" in form.errors:
        sent = form.data.get("decision", "")[:40]
        choices = ", ".join(label for _, label in BULK_KINDS)
        if sent == Decision.Kind.DELEGATE:
            errors.append(
                "Delegate is not a bulk decision: assign the selected items instead, or "
                "delegate them one at a time."
            )
        else:
            errors.append(f"Unknown decision “{sent}”: choose one of {choices}.")
    if "justification" in form.errors:
        length = len(form.data.get("justification", ""))
        errors.append(
            f"The comment is too long: at most {MAX_COMMENT:,} characters (this one has "
            f"{length:,})."
        )
    if "expires_on" in form.errors and accepts_risk(form):
        errors.append("The expiry date is not a date (use YYYY-MM-DD).")
    if form.cleaned_data.get("seen_at") is None:
        # Hidden: only a page from before a release, or a hand-made request, lacks it.
        errors.append("The form was incomplete; reload the page and try again.")
    return errors


@requires(Capability.DECIDE)
@require_POST
def review_bulk(request, pk: int):
    cycle = get_object_or_404(ReviewCycle, pk=pk)
    form = BulkForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    back = back_to_queue(cycle, data.get("back", ""))
    ids, unreadable = selected_ids(request)
    if unreadable:
        return bulk_refused(request, cycle, ids, f"Nothing was decided: {unreadable}")
    if not ids:
        return bulk_refused(request, cycle, ids, "Select the items to decide first.")
    if errors := bulk_form_errors(form):
        return bulk_refused(request, cycle, ids, *(f"Nothing was decided: {e}" for e in errors))
    items = list(
        cycle.items.filter(pk__in=ids).select_related("cycle", "latest_decision__decided_by")
    )
    if missing := not_in_cycle(ids, items):
        return bulk_refused(request, cycle, ids, f"Nothing was decided: {missing}")
    skipped = 0
    if request.POST.get("action") == "confirm_clean":
        clean = [item for item in items if is_clean(item=item)]
        skipped = len(items) - len(clean)
        items = clean
        decision = DecisionInput(
            kind=Decision.Kind.KEEP,
            justification=data["justification"].strip() or CLEAN_CONFIRMATION,
        )
    else:
        if not data.get("decision"):
            return bulk_refused(request, cycle, ids, "Choose the decision for the selected items.")
        decision = DecisionInput(
            kind=data["decision"],
            justification=data["justification"],
            expires_on=data.get("expires_on") if accepts_risk(form) else None,
        )
    try:
        result = bulk_decide(
            items=items, actor=request.user, decision=decision, seen_at=data["seen_at"]
        )
    except Invalid as exc:
        return bulk_refused(
            request, cycle, ids, *(f"Nothing was decided: {m}" for m in exc.errors.values())
        )
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
    if result.repeated:
        count = len(result.repeated)
        messages.info(
            request,
            f"{count} item{'s' if count != 1 else ''} already had this decision from you, "
            "recorded by the same form a moment ago: not recorded twice.",
        )
    if skipped:
        messages.info(
            request,
            f"{skipped} selected item{'s' if skipped != 1 else ''} with findings (set aside "
            f"ones included) {'were' if skipped != 1 else 'was'} left for an individual "
            "decision.",
        )
    return back


# Reviewers and administrators assign: findings.reviews.services decides (Forbidden -> 403).
@requires(Capability.VIEW)
@require_POST
def review_assign(request, pk: int):
    cycle = get_object_or_404(ReviewCycle, pk=pk)
    back = back_to_queue(cycle, request.POST.get("back", ""))
    ids, unreadable = selected_ids(request)
    choice = request.POST.get("assignee", "")
    if unreadable:
        messages.error(request, f"Nothing was assigned: {unreadable}")
        return back
    if not ids:
        messages.error(request, "Select the items to assign first.")
        return back
    if choice == "unassigned":
        assignee = None
    elif (pk := parse_id(choice)) is not None and (assignee := User.objects.filter(pk=pk).first()):
        pass
    else:
        messages.error(request, "Choose whom to assign the selected items to.")
        return back
    items = list(cycle.items.filter(pk__in=ids).select_related("cycle"))
    if missing := not_in_cycle(ids, items):
        messages.error(request, f"Nothing was assigned: {missing}")
        return back
    try:
        count = assign_items(items=items, assignee=assignee, actor=request.user)
    except Forbidden as exc:
        raise PermissionDenied(str(exc)) from exc
    except Invalid as exc:
        for message in exc.errors.values():
            messages.error(request, message)
        return back
    if not count:
        messages.error(request, "Nothing was assigned: this cycle is signed off and locked.")
        return back
    who = assignee.display_name if assignee else "nobody (unassigned)"
    messages.success(request, f"Assigned {count} item{'s' if count != 1 else ''} to {who}.")
    return back


def sign_again(form: SignOffForm, cycle: ReviewCycle, message: str) -> SignOffForm:
    """The approver's input, now against the summary shown with it, and why they must read it.
    The confirmation is not carried over: it confirmed a summary that is no longer the one."""
    data = {**form.data.dict(), "summary_hash": sign_off_summary(cycle=cycle).digest}
    data.pop("confirm", None)
    again = SignOffForm(data)
    again.is_valid()
    again.errors.pop("confirm", None)  # not a mistake of theirs: it asks to be ticked again
    again.add_error(None, message)
    return again


SUMMARY_NOT_READ_ON_PAGE = (
    "Read the sign-off summary above before signing: this request did not say which summary "
    "you read. It is shown now; sign again once you have read it."
)


def refused_sign_off_key(cycle_id: int) -> str:
    return f"review_sign_off_refused:{cycle_id}"


def sign_off_refused(request, cycle: ReviewCycle, form: SignOffForm, *, forbidden: str = ""):
    """Back to the cycle's sign-off section (a redirect: reloading it signs nothing again)
    with the approver's input and why nothing was signed: the form's errors, or `forbidden`,
    why they may not sign now (then the confirmation is not kept: what it confirmed has
    changed). Kept in the session for the next view of the cycle."""
    data = form.data
    request.session[refused_sign_off_key(cycle.pk)] = {
        "attestation": data.get("attestation", "")[:MAX_COMMENT],
        "summary_hash": data.get("summary_hash", "")[:64],
        "confirm": "" if forbidden else data.get("confirm", "")[:10],
        "errors": {} if forbidden else {name: list(errors) for name, errors in form.errors.items()},
        "forbidden": forbidden,
    }
    return redirect(reverse("review_cycle", args=[cycle.pk]) + "#sign-off")


def refused_sign_off_options(saved: dict) -> dict:
    """What the sign-off section shows once after a refusal (sign_off_refused): the form as
    the approver sent it, with its errors; or why they may not sign, with what they typed."""
    if saved["forbidden"]:
        return {"error": saved["forbidden"], "attestation": saved["attestation"]}
    fields = ("attestation", "summary_hash", "confirm")
    form = SignOffForm({name: saved[name] for name in fields if saved[name]})
    form.is_valid()
    form.errors.clear()  # the errors of the refused request, not of its input read again
    for name, messages_of_field in saved["errors"].items():
        for message in messages_of_field:
            form.add_error(name if name in form.fields else None, message)
    return {"form": form}


@requires(Capability.SIGN_OFF)
@require_POST
def review_sign_off(request, pk: int):
    cycle = load_cycle(pk)
    form = SignOffForm(request.POST)
    if not form.is_valid():
        return sign_off_refused(request, cycle, form)
    try:
        sign_off_cycle(
            cycle=cycle,
            approver=request.user,
            attestation=form.cleaned_data["attestation"],
            summary_hash=form.cleaned_data["summary_hash"],
        )
    except Invalid as exc:
        if "summary" in exc.errors:
            # Sign against the summary now shown, after reading it again.
            return sign_off_refused(request, cycle, sign_again(form, cycle, exc.errors["summary"]))
        if "summary_hash" in exc.errors:
            form = sign_again(form, cycle, SUMMARY_NOT_READ_ON_PAGE)
        add_domain_errors(form, {k: v for k, v in exc.errors.items() if k != "summary_hash"})
        return sign_off_refused(request, cycle, form)
    except Forbidden as exc:
        return sign_off_refused(request, cycle, form, forbidden=str(exc))
    messages.success(request, f"Signed off “{cycle.title}”. It is now locked.")
    return redirect("review_cycle", cycle.pk)


# Auditors and administrators, and approvers for the cycles they may sign off (services).
# A GET that records the export in the audit trail: only the app's own pages, a bookmark or a
# typed address may ask for it, not another site, not even with a link or a frame.
@fetch_metadata_policy(allow_navigations=False)
@requires(Capability.VIEW)
@require_GET
def review_evidence_pack(request, pk: int):
    cycle = get_object_or_404(ReviewCycle, pk=pk)
    if not may_download_evidence(user=request.user, cycle=cycle):
        raise PermissionDenied(
            "The evidence pack is for auditors, administrators, and the approver who may sign "
            "this cycle off."
        )
    pack = build_evidence_pack(cycle=cycle)
    record_export(pack=pack, cycle=cycle, actor=request.user)
    content = zip_bytes(pack=pack)
    name = f"iamreview-cycle-{cycle.pk}-{slugify(cycle.title)[:60]}.zip"
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- One item: evidence, history, decision ---------------------------------------------------


def in_queue(request, item: ReviewItem) -> bool:
    """Whether the request comes from the item's queue page (whose row and progress update)."""
    if not request.htmx or not request.htmx.current_url:
        return False
    try:
        path = urlparse(request.htmx.current_url).path
    except ValueError:  # a header that is no URL ("http://[::1"): not from the queue
        return False
    return path == reverse("review_cycle", args=[item.cycle_id])


def render_item(request, item: ReviewItem, *, status: int = 200, **kwargs):
    whole_page = not request.htmx or request.htmx.history_restore_request
    context = item_context(request, item, position=whole_page, **kwargs)
    if not whole_page:
        if in_queue(request, item) and request.method == "POST":
            # The row, the progress and the sign-off section change with the decision.
            cycle = with_progress(item.cycle)
            context.update(
                cycle=cycle,
                selectable=may_select(request.user, cycle),
                **sign_off_context(request, cycle),
            )
            response = render(request, "findings/reviews/item_decided.html", context, status=status)
        else:
            response = render(request, "findings/reviews/item.html#item", context, status=status)
    else:
        context["cycle"] = with_progress(item.cycle)
        response = render(request, "findings/reviews/item.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@requires(Capability.VIEW)
@require_GET
def review_item(request, pk: int):
    return render_item(request, load_item(pk))


@requires(Capability.DECIDE)
@require_POST
def review_decide(request, pk: int):
    item = load_item(pk)
    form = DecisionForm(
        request.POST,
        reviewers=reviewer_choices(exclude=request.user.pk, fresh=True),
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
                attach_plan=data["attach_plan"],
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
            reviewers=reviewer_choices(exclude=request.user.pk),
            item_id=item.pk,
        )
        again.is_valid()
        return render_item(request, item, form=again, conflict=exc)
    except Forbidden as exc:
        return render_item(request, item, forbidden=str(exc), status=403)
    if not request.htmx:
        messages.success(request, "Decision recorded.")
        return redirect("review_item", pk)
    response = render_item(request, load_item(pk), saved=True)
    # The queue's script closes the panel and moves on to the next undecided item.
    trigger_client_event(response, "item-decided", {"id": pk}, after="settle")
    return response


# --- The audit log --------------------------------------------------------------------------


@requires(Capability.EXPORT)
@require_GET
def review_audit(request):
    context = audit_context(request)
    status = 400 if context["filter_errors"] else 200
    return render_partial(
        request, "findings/reviews/audit.html", context, target="audit-table", status=status
    )


@requires(Capability.EXPORT)
@require_POST
def review_audit_verify(request):
    """Walk the whole chain on the next view, now rather than at the next scheduled walk."""
    forget_verification()
    messages.success(request, "Walked the whole chain again: the result is below.")
    return redirect("review_audit")


@requires(Capability.EXPORT)
@require_GET
def review_audit_csv(request):
    filters, errors = parse_audit_filters(params=request.GET)
    if errors:
        return HttpResponseBadRequest(
            "; ".join(errors.values()), content_type="text/plain; charset=utf-8"
        )
    # Streamed: the log is never purged, and its whole export is every entry ever written.
    rows = audit_records(entries=audit_entries(filters=filters))
    response = StreamingHttpResponse(
        csv_chunks(rows, AUDIT_COLUMNS), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="iamreview-audit-log.csv"'
    return response
