"""The review lists as the pages show them: cycles with their progress, one cycle's queue
(filtered, sorted, paginated) with its sign-off section, and the audit log.
"""

import json
import re
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.permissions import Capability, can
from findings.audit.selectors import (
    action_words,
    audit_actions,
    audit_entries,
    parse_audit_filters,
    target_url,
)
from findings.audit.verify import page_verification
from findings.models import AwsAccount, Decision, ReviewCycle, ReviewItem
from findings.models.rawrows import Columns, fetch, table
from findings.reviews.caches import accounts_version
from findings.reviews.display import before_in_queue, read_cycle
from findings.reviews.forms import (
    BULK_KINDS,
    KEYS_HELP,
    SORT_LABELS,
    SORTS,
    STATUS_LABELS,
    OpenCycleForm,
    QueueFilters,
    ReleaseForm,
    SignOffForm,
)
from findings.reviews.rows import RowRenderer
from findings.reviews.services import (
    Forbidden,
    check_may_sign_off,
    default_risk_expiry,
    may_download_evidence,
    reviewer_choices,
)
from findings.reviews.summary import sign_off_summary
from findings.reviews.tally import cycle_tally
from iamreview.paging import page_asked
from iamreview.widgets import option_tags

PER_PAGE = 25
CYCLES_PER_PAGE = 25
AUDIT_PER_PAGE = 50
SEVERITY_CHOICES = [
    ("critical", "Critical"),
    ("high", "High"),
    ("medium", "Medium"),
    ("low", "Low"),
    ("none", "No open finding"),
]


# --- Cycles: state and progress -------------------------------------------------------------


def with_scope_names(cycles: QuerySet) -> QuerySet:
    """The names of each cycle's scope accounts (`ReviewCycle.scope_names`, cycle_scope.html):
    an array beside each cycle on PostgreSQL, a prefetch elsewhere."""
    if connection.vendor != "postgresql":
        return cycles.prefetch_related("scope_accounts")
    from django.contrib.postgres.expressions import ArraySubquery

    scope = ReviewCycle.scope_accounts.through.objects.filter(reviewcycle=OuterRef("pk"))
    return cycles.annotate(
        scope_account_names=ArraySubquery(
            scope.order_by("awsaccount__name", "awsaccount__account_id").values("awsaccount__name")
        )
    )


def describe_cycle(
    cycle: ReviewCycle, *, total: int, decided: int, awaiting: int, today
) -> ReviewCycle:
    """Attach what every page shows about a cycle: progress, state in words, overdue.
    `awaiting`: items still waiting for a decision (those marked "no response" at the due date
    are not waited for)."""
    signed = cycle.state == ReviewCycle.State.SIGNED_OFF
    cycle.total, cycle.decided = total, decided
    cycle.remaining = total - decided
    cycle.awaiting = awaiting
    cycle.is_overdue = not signed and cycle.due_on < today
    if signed:
        cycle.status_key, cycle.status_label = "signed-off", "Signed off"
    elif awaiting <= 0:
        cycle.status_key, cycle.status_label = "waiting", "Waiting for sign-off"
    else:
        cycle.status_key, cycle.status_label = "in-review", "In review"
    return cycle


def with_progress(cycle: ReviewCycle) -> ReviewCycle:
    """Progress from the cycle's tally (kept by triggers on its items): one row, not a count."""
    tally = cycle_tally(cycle=cycle)
    cycle.unassigned = tally.unassigned
    return describe_cycle(
        cycle,
        total=tally.total,
        decided=tally.decided,
        awaiting=tally.awaiting,
        today=timezone.localdate(),
    )


def cycles_with_progress():
    return with_scope_names(
        ReviewCycle.objects.annotate(
            item_count=Coalesce(F("tally__total"), 0),
            decided_count=Coalesce(F("tally__decided"), 0),
            awaiting_count=Coalesce(F("tally__awaiting"), 0),
        ).select_related("signed_off_by")
    )


# --- The list of cycles ---------------------------------------------------------------------


def may_register_releases(user) -> bool:
    return can(user, Capability.DECIDE) or can(user, Capability.MANAGE_ACCOUNTS)


def review_list_context(request, *, open_form=None, release_form=None) -> dict:
    today = timezone.localdate()
    open_cycles = [
        describe_cycle(
            c, total=c.item_count, decided=c.decided_count, awaiting=c.awaiting_count, today=today
        )
        for c in cycles_with_progress()
        .filter(state=ReviewCycle.State.OPEN)
        .order_by("due_on", "opened_at")
    ]
    signed = Paginator(
        cycles_with_progress()
        .filter(state=ReviewCycle.State.SIGNED_OFF)
        .order_by("-signed_off_at", "-id"),
        CYCLES_PER_PAGE,
    ).get_page(page_asked(request.GET.get("page")))
    for cycle in signed:
        describe_cycle(
            cycle,
            total=cycle.item_count,
            decided=cycle.decided_count,
            awaiting=cycle.awaiting_count,
            today=today,
        )
    may_open = can(request.user, Capability.MANAGE_ACCOUNTS)
    return {
        "open_cycles": open_cycles,
        "signed_page": signed,
        "overdue_count": sum(1 for c in open_cycles if c.is_overdue),
        "open_form": (open_form or OpenCycleForm()) if may_open else None,
        "release_form": (release_form or ReleaseForm())
        if may_register_releases(request.user)
        else None,
    }


# --- One cycle: the queue -------------------------------------------------------------------


QUEUE_ROW_FIELDS = (
    "cycle",
    "title",
    "subject_arn",
    "severity",
    "severity_rank",
    "is_decided",
    "freshness",
    "fresh_changes",
    "no_response_at",
    "follows_item",
    "remediation",
    "assignee",
    "account",
    "latest_decision",
)
QUEUE_DECISION_FIELDS = ("kind", "expires_on", "decided_at", "bulk", "decided_by", "delegate_to")


def queue_items(cycle: ReviewCycle, filters: QueueFilters, user):
    """The items the filters select, in the queue's order (counts of filtered views; the
    page's rows are read by QueueRows)."""
    items = cycle.items.order_by(*SORTS[filters.sort])
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


class QueueRows:
    """One queue page's rows in one hand-written statement: the page's ids by a walk of the
    index that matches the filters and the order (item_queue_order, item_queue_undecided...),
    then those items with their latest decision. The same statement through the ORM spent
    longer compiling than the database spent running it, on every page view. For a
    Paginator, in place of the queryset; counts (filtered views only: the tally knows the
    others) go through `queue_items`."""

    ITEM = Columns(ReviewItem, QUEUE_ROW_FIELDS, alias="i")
    DECISION = Columns(Decision, QUEUE_DECISION_FIELDS, alias="d")

    def __init__(self, cycle: ReviewCycle, filters: QueueFilters, user) -> None:
        self.cycle, self.filters, self.user = cycle, filters, user

    def count(self) -> int:
        return queue_items(self.cycle, self.filters, self.user).count()

    def __len__(self) -> int:
        return self.count()

    def _where(self) -> tuple[str, list]:
        filters = self.filters
        where, params = ["p.cycle_id = %s"], [self.cycle.pk]
        if filters.account:
            where.append("a.account_id = %s")
            params.append(filters.account)
        if filters.severity:
            where.append("p.severity = %s")
            params.append("" if filters.severity == "none" else filters.severity)
        if filters.assignee == "me":
            where.append("p.assignee_id = %s")
            params.append(self.user.pk)
        elif filters.assignee == "unassigned":
            where.append("p.assignee_id IS NULL")
        elif filters.assignee:
            where.append("p.assignee_id = %s")
            params.append(int(filters.assignee))
        if filters.status:
            where.append("NOT p.is_decided" if filters.status == "undecided" else "p.is_decided")
        return " AND ".join(where), params

    def _order(self, alias: str, account: str) -> str:
        """SORTS as columns: `alias` the item's table, `account` its account's."""
        models = {alias: ReviewItem, account: AwsAccount}
        columns = []
        for name in SORTS[self.filters.sort]:
            table, _, field = name.rpartition("__")
            table = account if table == "account" else alias
            column = models[table]._meta.get_field(field).column
            columns.append(f"{table}.{connection.ops.quote_name(column)}")
        return ", ".join(columns)

    def __getitem__(self, index: slice) -> list[ReviewItem]:
        items, accounts = table(ReviewItem), table(AwsAccount)
        by_account = bool(self.filters.account) or self.filters.sort == "account"
        where, params = self._where()
        page_join = f" JOIN {accounts} a ON a.id = p.account_id" if by_account else ""
        row_join = f" JOIN {accounts} b ON b.id = i.account_id" if by_account else ""
        # Quoted table names and fixed columns only; every value goes as a parameter.
        sql = (
            f"SELECT {self.ITEM.sql}, {self.DECISION.sql} FROM {items} i"  # noqa: S608
            f" LEFT JOIN {table(Decision)} d ON d.id = i.latest_decision_id{row_join}"
            f" WHERE i.id IN (SELECT p.id FROM {items} p{page_join} WHERE {where}"
            f" ORDER BY {self._order('p', 'a')} LIMIT %s OFFSET %s)"
            f" ORDER BY {self._order('i', 'b')}"
        )
        start = index.start or 0
        page = []
        split = Columns.splitter((self.ITEM, self.DECISION))
        for item, decision in (
            split(row) for row in fetch(sql, [*params, max(0, index.stop - start), start])
        ):
            item.latest_decision, item.cycle = decision, self.cycle
            page.append(item)
        return page


def may_select(user, cycle: ReviewCycle) -> bool:
    """Rows get checkboxes for those who bulk-decide or assign, while the cycle is open."""
    return cycle.state == ReviewCycle.State.OPEN and (
        can(user, Capability.DECIDE) or can(user, Capability.MANAGE_ACCOUNTS)
    )


def people_names(items, *, known: list[tuple[int, str]]) -> dict[int, str]:
    """Names of the people the rows show (assignees, deciders, delegates): from `known` (the
    page's reviewer list), and one query for anyone else (a former reviewer, an approver)."""
    names = dict(known)
    wanted = set()
    for item in items:
        wanted.add(item.assignee_id)
        if item.latest_decision_id:
            wanted.update((item.latest_decision.decided_by_id, item.latest_decision.delegate_to_id))
    missing = wanted - names.keys() - {None}
    if missing:
        for pk, full_name, email in User.objects.filter(pk__in=missing).values_list(
            "pk", "full_name", "email"
        ):
            names[pk] = full_name or email
    return names


def known_count(cycle: ReviewCycle, filters: QueueFilters) -> int | None:
    """The number of items the filters select, when the cycle's tally already says it."""
    if filters.account or filters.severity or filters.assignee:
        return None
    return {
        "": cycle.total,
        "undecided": cycle.total - cycle.decided,
        "decided": cycle.decided,
    }.get(filters.status)


def page_of_item(cycle: ReviewCycle, filters: QueueFilters, item_id) -> int | None:
    """The page of the unfiltered queue, in its default order, that shows the item (the item
    page's "back to the queue" link): one count, when that link is followed."""
    if not item_id or filters != QueueFilters() or not re.fullmatch(r"[0-9]{1,18}", item_id):
        return None
    item = cycle.items.filter(pk=int(item_id)).only("severity_rank", "title").first()
    if item is None:
        return None
    return cycle.items.filter(before_in_queue(item)).count() // PER_PAGE + 1


def queue_context(request, cycle: ReviewCycle, filters: QueueFilters, *, page_number=None) -> dict:
    people = reviewer_choices()
    paginator = Paginator(QueueRows(cycle, filters, request.user), PER_PAGE)
    count = known_count(cycle, filters)
    if count is not None:
        paginator.count = count  # a cached property: the pages need no COUNT over the cycle
    page = paginator.get_page(page_asked(page_number))
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
        # Rendered once here: hundreds of reviewers are two long option lists.
        "reviewer_options": option_tags(people),
        "assignee_filter_options": option_tags(people, selected=filters.assignee),
        "people": people,
    }


def sign_off_context(
    request, cycle: ReviewCycle, *, form=None, error: str = "", attestation: str = ""
) -> dict:
    """The sign-off summary; the sign-off form for an approver who may sign off now, or why
    nobody can yet. After a refused sign-off: `form` as the approver sent it, or `error`, why
    they may not sign, with the `attestation` they had typed."""
    # The summary reads the whole cycle: it is built when someone can act on it (every item
    # decided, or the cycle signed off), not on every queue page of a cycle still in progress.
    ready = cycle.state == ReviewCycle.State.SIGNED_OFF or not cycle.awaiting
    summary = sign_off_summary(cycle=cycle) if ready else None
    context = {
        "sign_off_form": None,
        "sign_off_blocker": error,
        "sign_off_error": bool(error),
        "refused_attestation": attestation if error else "",
        "summary": summary,
        "may_download_evidence": may_download_evidence(user=request.user, cycle=cycle),
    }
    if cycle.state == ReviewCycle.State.SIGNED_OFF or error:
        return context
    if can(request.user, Capability.SIGN_OFF):
        try:
            check_may_sign_off(cycle=cycle, approver=request.user, awaiting=cycle.awaiting)
        except Forbidden as exc:
            context["sign_off_blocker"] = str(exc)
        else:
            # The hash of the summary shown now: signing refuses if it changes before the POST.
            context["sign_off_form"] = form or SignOffForm(initial={"summary_hash": summary.digest})
    elif cycle.awaiting:
        awaiting = cycle.awaiting
        context["sign_off_blocker"] = (
            f"{awaiting} item{'s' if awaiting != 1 else ''} still "
            f"wait{'s' if awaiting == 1 else ''} for a decision."
        )
    elif cycle.remaining:
        context["sign_off_blocker"] = (
            "Every item is decided or marked “no response” at the due date: an approver can "
            "sign the cycle off."
        )
    else:
        context["sign_off_blocker"] = "Every item is decided: an approver can sign the cycle off."
    return context


ACCOUNTS_CACHE_SECONDS = 60


def cycle_accounts(cycle: ReviewCycle) -> list[tuple[int, str, str]]:
    """(pk, account id, name) of the accounts the cycle's items are in, by name: the queue's
    account filter, and the account column of its rows (no join per page). One index probe per
    account, at most once a minute per cycle and item count (accounts_version: a renamed
    account shows at once in this process, within the minute in others)."""
    key = f"cycle-accounts:{cycle.pk}:{cycle.total}:{accounts_version()}"
    accounts = cache.get(key)
    if accounts is None:
        accounts = list(
            AwsAccount.objects.filter(
                Exists(ReviewItem.objects.filter(cycle=cycle, account=OuterRef("pk")))
            )
            .order_by("name")
            .values_list("pk", "account_id", "name")
        )
        cache.set(key, accounts, ACCOUNTS_CACHE_SECONDS)
    return accounts


def load_cycle(pk: int) -> ReviewCycle:
    cycle = read_cycle(pk)
    # A cycle's scope is set when it opens and never changes; only an account's name may
    # (accounts_version).
    key = f"cycle-scope:{cycle.pk}:{accounts_version()}"
    names = cache.get(key)
    if names is None:
        names = cycle.scope_names
        cache.set(key, names, ACCOUNTS_CACHE_SECONDS)
    cycle.scope_account_names = names
    return with_progress(cycle)


def cycle_context(request, cycle: ReviewCycle, *, params=None, bulk=None, **sign_off) -> dict:
    """The queue; and, unless htmx swaps only the queue, the filters and the sign-off section.

    `params` are the queue's filters (the query string unless given); `bulk` the bulk form's
    input to show again after an error (selected ids, decision, comment, expiry, errors)."""
    params = request.GET if params is None else params
    filters = QueueFilters.from_params(params)
    page_number = params.get("page") or page_of_item(cycle, filters, params.get("item"))
    context = queue_context(request, cycle, filters, page_number=page_number)
    # An accepted risk's expiry is proposed as on an item's own form.
    context["bulk"] = bulk = bulk or {
        "selected": set(),
        "expires_on": default_risk_expiry(day=timezone.localdate()).isoformat(),
    }
    items = context["page"].object_list
    accounts = cycle_accounts(cycle)
    rows = RowRenderer(
        selectable=context["selectable"],
        selected=bulk["selected"],
        names=people_names(items, known=context.pop("people")),
        accounts={pk: (account_id, name) for pk, account_id, name in accounts},
    )
    context["queue_rows"] = rows.groups(items)
    context["bulk_kind_options"] = option_tags(BULK_KINDS, selected=bulk.get("decision", ""))
    context.update(KEYS_HELP)
    if not (request.htmx and request.htmx.target == "queue"):
        context.update(
            sign_off_context(request, cycle, **sign_off),
            account_options=option_tags(
                [(account_id, f"{name} ({account_id})") for _, account_id, name in accounts],
                selected=filters.account,
            ),
            severity_options=option_tags(SEVERITY_CHOICES, selected=filters.severity),
            status_options=option_tags(STATUS_LABELS.items(), selected=filters.status),
            sort_options=option_tags(SORT_LABELS.items(), selected=filters.sort),
        )
    return context


# --- The audit log --------------------------------------------------------------------------


def as_json(value) -> str:
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True, default=str)


def audit_context(request) -> dict:
    """One page of the audit log, filtered; the chain's verification on full pages."""
    filters, errors = parse_audit_filters(params=request.GET)
    page = Paginator(audit_entries(filters=filters), AUDIT_PER_PAGE).get_page(
        page_asked(request.GET.get("page"))
    )
    for entry in page:
        entry.before_json, entry.after_json = as_json(entry.before), as_json(entry.after)
        entry.action_words = action_words(action=entry.action)
        entry.target_url = target_url(target_type=entry.target_type, target_id=entry.target_id)
    query = {
        "actor": filters.actor,
        "action": filters.action,
        "target": filters.target,
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
    }
    base = reverse("review_audit")

    def page_url(number):
        return f"{base}?{urlencode({k: v for k, v in {**query, 'page': number}.items() if v})}"

    filter_query = urlencode({k: v for k, v in query.items() if v})
    context = {
        "page": page,
        "actions": audit_actions(),
        "filters": filters,
        "filter_errors": errors,
        "filtered": any(query.values()),
        "export_url": reverse("review_audit_csv") + (f"?{filter_query}" if filter_query else ""),
        "previous_url": page_url(page.previous_page_number()) if page.has_previous() else None,
        "next_url": page_url(page.next_page_number()) if page.has_next() else None,
    }
    if not (request.htmx and request.htmx.target == "audit-table"):
        context["verification"] = page_verification(now=timezone.now())
        context["full_verify_minutes"] = max(1, settings.AUDIT_FULL_VERIFY_SECONDS // 60)
    return context
