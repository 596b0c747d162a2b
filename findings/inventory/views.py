"""Inventory pages: every IAM user and role we hold, and one page per principal."""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet, Subquery
from django.db.models.functions import Lower
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from accounts.permissions import Capability, requires
from findings.detection.selectors import findings_version_columns, findings_version_of
from findings.inventory.reads import ENTRY_SHOWN, read_roles, read_users
from findings.inventory.rows import RoleRows, UserRows
from findings.models import (
    AwsAccount,
    CollectionRun,
    CredentialReportEntry,
    Finding,
    IamGroup,
    IamRole,
    IamUser,
    PolicyAttachment,
    ServiceLastAccessed,
)
from findings.models.evidence import role_staleness
from findings.models.paging import LateRows, ReadIds
from findings.policy.effective import Policy, effective_permissions
from findings.policy.guardrails import guardrails_from
from findings.policy.risk import risk_summary
from findings.reviews.caches import accounts_version
from findings.rightsizing.views import least_privilege_context
from iamreview.fragments import cached_fragment
from iamreview.paging import page_asked
from iamreview.widgets import option_tags

PER_PAGE = 50
ROLE_KINDS = {
    "": "All roles",
    "application": "Your roles",
    "service-linked": "Service-linked",
    "sso": "IAM Identity Center",
}


# Column sorts: "stale" puts the longest unused first (never used before anything).
# "Account" is the default order: accounts in the order they were connected (an index walk;
# by account name would sort every row at each page), then names.
SORTS = {"name": "Name", "account": "Account", "stale": "Stalest first", "created": "Oldest first"}


@dataclass
class InventoryFilters:
    account: str = ""
    q: str = ""
    kind: str = ""
    sort: str = ""

    @classmethod
    def from_params(cls, params) -> "InventoryFilters":
        kind = (params.get("kind") or "").strip()
        sort = (params.get("sort") or "").strip()
        return cls(
            account=(params.get("account") or "").strip(),
            q=(params.get("q") or "").strip()[:200],
            kind=kind if kind in ROLE_KINDS else "",
            sort=sort if sort in SORTS else "",
        )

    def url(self, name: str, **changes) -> str:
        params = {k: v for k, v in {**self.__dict__, **changes}.items() if v}
        return reverse(name) + (f"?{urlencode(params)}" if params else "")


def present(model, filters: InventoryFilters) -> QuerySet:
    """Present rows by account (in the order accounts were connected), then name: the order
    of the `*_list_order` partial indexes, so a page reads its rows and no more."""
    # The page's ids only: its rows come from findings.inventory.reads, the account from the
    # page's list of accounts (account_list), not a join per row.
    rows = model.objects.filter(gone_at=None)
    if filters.account:
        # A scalar subquery, not a join: the planner then walks the index for one account.
        rows = rows.filter(
            account_id=Subquery(
                AwsAccount.objects.filter(account_id=filters.account).values("pk")[:1]
            )
        )
    if filters.q:
        # A name is the end of its ARN: one substring test, which the trigram index on
        # UPPER(arn) answers on PostgreSQL (findings migration 0025).
        rows = rows.filter(arn__icontains=filters.q)
    return rows.order_by("account_id", Lower("name"), "pk")


def sorted_rows(rows: QuerySet, filters: InventoryFilters, *, users: bool) -> QuerySet:
    """The rows in the order asked for: each order is an index of its own over present rows
    (findings.models.evidence), so a page walks it and stops. "By account" is the default
    order (accounts in the order they were connected, then names)."""
    if filters.sort == "created":
        return rows.order_by("create_date", "pk")
    if filters.sort == "stale":
        if users:
            # Kept on the user by collection (findings.collection.activity).
            return rows.order_by("last_activity", "create_date", "pk")
        return rows.order_by(role_staleness(), "create_date", "pk")
    if filters.sort == "name":
        return rows.order_by(Lower("name"), "account_id", "pk")
    return rows


def filtered_roles(filters: InventoryFilters) -> QuerySet[IamRole]:
    roles = present(IamRole, filters)
    if filters.kind == "service-linked":
        roles = roles.filter(is_service_linked=True)
    elif filters.kind == "sso":
        roles = roles.filter(is_sso=True)
    elif filters.kind == "application":
        roles = roles.filter(is_service_linked=False, is_sso=False)
    return roles


def page_of(request, rows: QuerySet, *, read, total: int | None = None, search: bool = False):
    """The page asked for: its ids from `rows`, its rows from `read` (findings.inventory.reads).
    The count stops at FINDINGS_LIST_MAX_ROWS (a COUNT over a LIMITed subquery, or `total`
    when the list is unfiltered: the tab's cached count), and so do the pages: neither the
    count nor OFFSET grows with the table. A search (`search`) reads the ids of all it
    matches, in order, up to that limit, in one statement: the trigram index gives matches in
    no order, so counting them and then sorting them for the page read them twice."""
    limit = settings.FINDINGS_LIST_MAX_ROWS
    if search:
        ids = list(rows.values_list("pk", flat=True)[:limit])
        asked = page_asked(request.GET.get("page"))
        return Paginator(ReadIds(ids, read=read), PER_PAGE).get_page(asked)
    paginator = Paginator(LateRows(rows, read=read), PER_PAGE)
    if total is None:
        paginator.count = rows.order_by().values("pk")[:limit].count()
    else:
        paginator.count = min(total, limit)
    return paginator.get_page(page_asked(request.GET.get("page")))


# The tabs' totals move only when a collection runs: counted once per run started and per
# run ended, and at most this long after (rows land while a run is in progress).
TAB_COUNTS_TTL_SECONDS = 60
# The rendered table for one tab, set of filters and page, per state of the inventory (the
# latest collection run, the findings, the accounts): repeated views cost a cache read. The TTL
# bounds what lands during a run in progress and the drift of "3 days ago".
TABLE_CACHE_SECONDS = 60


def inventory_version() -> tuple[str, str]:
    """The state of the collection runs (what the tab totals depend on) and a version of
    everything the tables show. It moves when a run starts and when one ends (the number of
    active runs, from the partial index of active runs), when the findings move
    (findings_version) and when an account changes in this process: one query of four index
    look-ups."""
    runs = CollectionRun._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM {runs}),"  # noqa: S608 - fixed table names
            f" (SELECT COUNT(*) FROM {runs} WHERE status IN (%s, %s)),"
            f" {findings_version_columns()}",
            [CollectionRun.Status.QUEUED, CollectionRun.Status.RUNNING],
        )
        run, active, finding_id, event_id = cursor.fetchone()
    state = f"{run or 0}.{active}"
    findings = findings_version_of(finding_id=finding_id, event_id=event_id)
    return state, f"{state}.{findings}.{accounts_version()}"


def tab_counts(*, runs: str) -> dict[str, int]:
    """Totals for the tabs (the table says how many match the filters), counted once per
    state of the collection runs (`runs`, from inventory_version)."""
    return cache.get_or_set(
        f"iamreview:inventory-tab-counts:{runs}",
        lambda: {
            "users": IamUser.objects.filter(gone_at=None).count(),
            "roles": IamRole.objects.filter(gone_at=None).count(),
        },
        TAB_COUNTS_TTL_SECONDS,
    )


ACCOUNTS_CACHE_SECONDS = 60


def account_list() -> list[AwsAccount]:
    """Every account (by name), for the filter and for the rows' account column: read at most
    once a minute per process (accounts_version: a renamed or new account shows at once in
    this process, within the minute in others). Kept as plain values, which the cache reads
    back much faster than model instances."""
    rows = cache.get_or_set(
        f"iamreview:inventory-accounts:{accounts_version()}",
        lambda: list(AwsAccount.objects.values_list("pk", "account_id", "name")),
        ACCOUNTS_CACHE_SECONDS,
    )
    names = ["id", "account_id", "name"]
    return [AwsAccount.from_db(connection.alias, names, row) for row in rows]


def list_name_of(tab: str) -> str:
    return "inventory_users" if tab == "users" else "inventory_roles"


def table_context(filters: InventoryFilters, tab: str, page, rows) -> dict:
    """What the table partial shows: the count, the sort links, the rows and the pages."""
    list_name = list_name_of(tab)
    return {
        "tab": tab,
        "filters": filters,
        "page": page,
        "rows": rows,
        "truncated": page.paginator.count >= settings.FINDINGS_LIST_MAX_ROWS,
        "sort_links": [
            (key, label, filters.url(list_name, sort=key)) for key, label in SORTS.items()
        ],
        "previous_url": filters.url(list_name, page=page.previous_page_number())
        if page.has_previous()
        else None,
        "next_url": filters.url(list_name, page=page.next_page_number())
        if page.has_next()
        else None,
    }


def render_inventory(request, *, tab: str, filters: InventoryFilters, build_table):
    """The list page, or only its table for htmx. The table comes from the cache while the
    inventory is unchanged (inventory_version), else from `build_table(counts, accounts)`,
    which returns its context."""
    runs, version = inventory_version()
    counts = tab_counts(runs=runs)
    accounts = account_list()
    partial = bool(request.htmx and not request.htmx.history_restore_request)
    scope = json.dumps([tab, filters.__dict__, request.GET.get("page", "")], sort_keys=True)
    table, context = cached_fragment(
        request,
        key=f"iamreview:inventory-table:{version}:{hashlib.sha256(scope.encode()).hexdigest()}",
        seconds=TABLE_CACHE_SECONDS,
        template=f"{TEMPLATE}#inventory-table",
        build=lambda: build_table(counts, accounts),
    )
    if partial:
        response = HttpResponse(table)
    else:
        # The table's context goes along when it was just built (tests read it).
        context |= {
            "tab": tab,
            "filters": filters,
            "counts": counts,
            "accounts": accounts,
            # Written once here: the template engine's loop cost more than the rest of the form.
            "account_options": option_tags(
                [(a.account_id, f"{a.name} ({a.account_id})") for a in accounts],
                selected=filters.account,
            ),
            "kind_options": option_tags(ROLE_KINDS.items(), selected=filters.kind),
            "list_url": reverse(list_name_of(tab)),
            "table": mark_safe(table),  # noqa: S308 - rendered by the template engine
        }
        response = render(request, TEMPLATE, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


TEMPLATE = "findings/inventory/inventory.html"


def is_filtered(filters: InventoryFilters) -> bool:
    return bool(filters.account or filters.q or filters.kind)


@requires(Capability.VIEW)
@require_GET
def users(request):
    filters = InventoryFilters.from_params(request.GET)
    filters.kind = ""

    def build_table(counts: dict, accounts: list) -> dict:
        rows = sorted_rows(present(IamUser, filters), filters, users=True)
        total = None if is_filtered(filters) else counts["users"]
        # Each user with its credential report row and open findings: one statement.
        page = page_of(request, rows, read=read_users, total=total, search=bool(filters.q))
        roots = []
        if page.number == 1 and (not filters.q or filters.q.lower() in "root account"):
            roots = CredentialReportEntry.objects.filter(gone_at=None, user="<root_account>")
            # In the users' own order by account (the order accounts were connected).
            roots = roots.only(*ENTRY_SHOWN).order_by("account_id")
            if filters.account:
                roots = roots.filter(account__account_id=filters.account)
            roots = list(roots)
        rows_html = UserRows(accounts=accounts)(roots=roots, users=page.object_list)
        return table_context(filters, "users", page, rows_html) | {"roots": roots}

    return render_inventory(request, tab="users", filters=filters, build_table=build_table)


@requires(Capability.VIEW)
@require_GET
def roles(request):
    filters = InventoryFilters.from_params(request.GET)

    def build_table(counts: dict, accounts: list) -> dict:
        rows = sorted_rows(filtered_roles(filters), filters, users=False)
        total = None if is_filtered(filters) else counts["roles"]
        page = page_of(request, rows, read=read_roles, total=total, search=bool(filters.q))
        return table_context(filters, "roles", page, RoleRows(accounts=accounts)(page.object_list))

    return render_inventory(request, tab="roles", filters=filters, build_table=build_table)


# --- One principal ----------------------------------------------------------------------------


# A document shown open on a principal's page at most: longer ones (ReadOnlyAccess is some
# 2,000 lines) are folded, so the page does not run to tens of thousands of pixels.
OPEN_DOCUMENT_STATEMENTS = 12


@dataclass
class PolicyView:
    attachment: PolicyAttachment
    via_group: str = ""

    @property
    def short(self) -> bool:
        """Small enough to show open: its own policy, of a few statements."""
        if self.attachment.policy_ref.startswith("arn:") and ":iam::aws:policy/" in (
            self.attachment.policy_ref
        ):
            return False  # AWS's: known, and often long
        document = self.attachment.document.document if self.attachment.document else None
        if not isinstance(document, dict):
            return True
        statements = document.get("Statement")
        count = len(statements) if isinstance(statements, list) else 1
        return count <= OPEN_DOCUMENT_STATEMENTS and len(str(statements)) <= 4000


def policies_of(account: AwsAccount, arns: dict[str, str]) -> dict[str, list[PolicyView]]:
    """Policies in effect, by kind. `arns`: principal ARN -> group name ('' for the principal)."""
    by_kind: dict[str, list[PolicyView]] = defaultdict(list)
    for attachment in PolicyAttachment.objects.filter(
        account=account, gone_at=None, principal_arn__in=list(arns)
    ).select_related("document"):
        by_kind[attachment.kind].append(PolicyView(attachment, arns[attachment.principal_arn]))
    for views in by_kind.values():
        views.sort(key=lambda v: (v.via_group, v.attachment.policy_name.lower()))
    return by_kind


def service_access(account: AwsAccount, arn: str) -> list[ServiceLastAccessed]:
    """Its services, used ones first (most recent first), then the unused by name."""
    cutoff = timezone.now() - timedelta(days=settings.DETECT_UNUSED_SERVICE_DAYS)
    rows = list(
        ServiceLastAccessed.objects.filter(account=account, principal_arn=arn, gone_at=None)
    )
    for row in rows:
        row.is_unused = row.last_authenticated_at is None or row.last_authenticated_at < cutoff
    used = sorted(
        (row for row in rows if not row.is_unused),
        key=lambda row: row.last_authenticated_at,
        reverse=True,
    )
    unused = sorted((row for row in rows if row.is_unused), key=lambda row: row.service_namespace)
    return used + unused


# What each count of the risk summary counts: allowed actions, but escalation methods.
RISK_UNITS = {"Privilege escalation": ("way to escalate", "ways to escalate")}
RISK_HELP = {
    "Privilege escalation": "Known ways to gain more permissions than granted.",
    "Data exfiltration": "Actions that read data out: objects, parameters, secrets, decryption.",
    "Resource exposure": "Permissions-management actions: who else may reach a resource.",
    "Infrastructure change": "Write actions: create, change or delete resources.",
    "Credential exposure": "Actions that create or hand out credentials.",
}


def risk_rows(risks: dict[str, int], *, administrator: bool = False) -> list[dict]:
    """The risk summary with its units ("10,375 actions", not a bare number)."""
    rows = []
    for category, count in risks.items():
        one, many = RISK_UNITS.get(category, ("action", "actions"))
        rows.append(
            {
                "category": category,
                "count": count,
                "unit": one if count == 1 else many,
                "help": RISK_HELP.get(category, ""),
                "note": "already an administrator: nothing further to gain"
                if administrator and category == "Privilege escalation"
                else "",
            }
        )
    return rows


def risks_of(arn: str, account: AwsAccount, policies: dict[str, list[PolicyView]]) -> dict:
    """The risk summary from the policies already on the page (no query of its own)."""
    documents = [
        Policy(
            # A group's policy labelled as detection labels it: escalation tells a group's
            # Deny (leave the group) from the principal's own (delete its policy) by it.
            f"{v.attachment.policy_name} (via group {v.via_group})"
            if v.via_group
            else v.attachment.policy_name,
            v.attachment.kind,
            v.attachment.document.document,
        )
        for kind in ("inline", "managed")
        for v in policies.get(kind, [])
        if v.attachment.document
    ]
    boundary = next(
        (
            Policy(v.attachment.policy_name, "boundary", v.attachment.document.document)
            for v in policies.get("boundary", [])
            if v.attachment.document and not v.via_group
        ),
        None,
    )
    perms = effective_permissions(
        principal_arn=arn,
        principal_name=arn.rpartition("/")[2],
        policies=documents,
        boundary=boundary,
    )
    return {
        "risks": risk_summary(
            perms=perms,
            account_id=account.account_id,
            guardrails=guardrails_from(
                account_id=account.account_id, levels=account.scp_levels_in_effect
            ),
        ),
        "effective": perms.summary(),
        "administrator": perms.is_admin,
    }


ESCALATION_CHECK = "privilege-escalation"


def escalations_detected(findings: list[Finding]) -> int | None:
    """How many ways to escalate the principal's open escalation finding names (its methods,
    and a chain of roles to an administrator as one more), or None without one. Detection
    sees the whole account (the roles the principal can pass or assume); the page's own
    count sees the principal's policies alone."""
    for finding in findings:
        if finding.check_id == ESCALATION_CHECK and finding.status == Finding.Status.OPEN:
            evidence = finding.evidence if isinstance(finding.evidence, dict) else {}
            methods = evidence.get("methods")
            count = len(methods) if isinstance(methods, list) else 0
            return count + (1 if evidence.get("path") else 0)
    return None


def _services(rows: list[ServiceLastAccessed]) -> dict:
    """Used services listed; unused ones (an administrator has some 400) folded, once."""
    return {
        "services": rows,
        "services_used": [row for row in rows if not row.is_unused],
        "services_unused": [row for row in rows if row.is_unused],
    }


def principal_context(account: AwsAccount, arn: str, group_arns: dict[str, str]) -> dict:
    policies = policies_of(account, {arn: "", **group_arns})
    findings = list(
        Finding.objects.filter(account=account, resource_arn=arn).order_by(
            "status", "severity_rank", "-first_seen_at"
        )
    )
    risks = risks_of(arn, account, policies)
    detected = escalations_detected(findings)
    if detected is not None:
        # The larger: a policy added since detection ran may already show more on its own.
        own = risks["risks"]["Privilege escalation"]
        risks["risks"]["Privilege escalation"] = max(own, detected)
    return {
        **risks,
        "risk_rows": risk_rows(risks["risks"], administrator=risks["administrator"]),
        "escalation_detected": detected is not None,
        "inline": policies.get("inline", []),
        "managed": policies.get("managed", []),
        "boundary": policies.get("boundary", []),
        "policy_groups": [
            ("Inline policies", policies.get("inline", [])),
            ("Managed policies", policies.get("managed", [])),
            ("Permissions boundary", policies.get("boundary", [])),
        ],
        **_services(service_access(account, arn)),
        "unused_service_days": settings.DETECT_UNUSED_SERVICE_DAYS,
        "findings": findings,
    }


def _used_first(context: dict) -> dict:
    """The Least privilege section's services with the used ones first, as on the services
    table above it (the unused ones, often hundreds, after them)."""
    if context.get("least_privilege_services"):
        context["least_privilege_services"] = sorted(
            context["least_privilege_services"], key=lambda service: service["verdict"] != "used"
        )
    return context


@requires(Capability.VIEW)
@require_GET
def user_detail(request, pk: int):
    user = get_object_or_404(IamUser.objects.select_related("account"), pk=pk)
    groups = list(IamGroup.objects.filter(account=user.account, name__in=user.groups, gone_at=None))
    entry = CredentialReportEntry.objects.filter(
        account=user.account, arn=user.arn, gone_at=None
    ).first()
    context = principal_context(user.account, user.arn, {g.arn: g.name for g in groups})
    context.update(principal=user, entry=entry, groups=user.groups, principal_kind="user")
    context.update(_used_first(least_privilege_context(user)))
    return render(request, "findings/inventory/user.html", context)


@requires(Capability.VIEW)
@require_GET
def role_detail(request, pk: int):
    role = get_object_or_404(IamRole.objects.select_related("account"), pk=pk)
    context = principal_context(role.account, role.arn, {})
    context.update(principal=role, unused_role_days=settings.DETECT_UNUSED_ROLE_DAYS)
    context.update(principal_kind="role", **_used_first(least_privilege_context(role)))
    return render(request, "findings/inventory/role.html", context)
