"""Inventory pages: every IAM user and role we hold, and one page per principal."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet, Subquery
from django.db.models.functions import Lower
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from accounts.permissions import Capability, requires
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
from findings.models.paging import LateRows
from findings.policy.effective import Policy, effective_permissions
from findings.policy.risk import risk_summary
from findings.rightsizing.views import least_privilege_context

PER_PAGE = 50
ROLE_KINDS = {
    "": "All roles",
    "application": "Your roles",
    "service-linked": "Service-linked",
    "sso": "IAM Identity Center",
}


# Column sorts: "stale" puts the longest unused first (never used before anything).
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


LIST_DEFERS = {
    IamUser: ["fingerprint", "tags", "permissions_boundary_arn"],
    IamRole: [
        "fingerprint",
        "tags",
        "trust_policy",
        "instance_profile_arns",
        "description",
        "permissions_boundary_arn",
    ],
}


def present(model, filters: InventoryFilters) -> QuerySet:
    """Present rows by account (in the order accounts were connected), then name: the order
    of the `*_list_order` partial indexes, so a page reads its rows and no more."""
    # Not shown in the list: JSON the page would decode for nothing. The account comes from
    # the page's list of accounts (base_context), not a join per row.
    rows = model.objects.filter(gone_at=None).defer(*LIST_DEFERS[model])
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


def credential_entries_of(users: list[IamUser]) -> QuerySet[CredentialReportEntry]:
    """The present credential report rows of these users, by ARN (the index
    credential_entry_arn: one probe per user; the caller pairs them with the users by
    account and ARN)."""
    return CredentialReportEntry.objects.filter(
        gone_at=None, arn__in=[user.arn for user in users]
    ).order_by()


def open_finding_counts(arns: list[str]) -> dict[tuple[int, str], int]:
    rows = (
        Finding.objects.filter(resource_arn__in=arns, status=Finding.Status.OPEN)
        .order_by()
        .values("account_id", "resource_arn")
        .annotate(n=Count("id"))
    )
    return {(row["account_id"], row["resource_arn"]): row["n"] for row in rows}


def page_of(request, rows: QuerySet):
    """The page asked for. The count stops at FINDINGS_LIST_MAX_ROWS (a COUNT over a LIMITed
    subquery), and so do the pages: neither the count nor OFFSET grows with the table."""
    paginator = Paginator(LateRows(rows), PER_PAGE)
    paginator.count = rows.order_by().values("pk")[: settings.FINDINGS_LIST_MAX_ROWS].count()
    return paginator.get_page(request.GET.get("page"))


# The tabs' totals move only when a collection runs: counted once per run started, and at
# most this long after (rows land while a run is in progress).
TAB_COUNTS_TTL_SECONDS = 60


def tab_counts() -> dict[str, int]:
    """Totals for the tabs (the table says how many match the filters)."""
    latest_run = CollectionRun.objects.order_by("-pk").values_list("pk", flat=True).first()
    key = f"iamreview:inventory-tab-counts:{latest_run or 0}"
    counts = cache.get(key)
    if counts is None:
        counts = {
            "users": IamUser.objects.filter(gone_at=None).count(),
            "roles": IamRole.objects.filter(gone_at=None).count(),
        }
        cache.set(key, counts, TAB_COUNTS_TTL_SECONDS)
    return counts


def account_list() -> list[AwsAccount]:
    """Every account (by name), for the filter and for the rows' account column."""
    return list(AwsAccount.objects.only("account_id", "name"))


def render_inventory(request, context: dict):
    template = "findings/inventory/inventory.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#inventory-table"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def base_context(request, filters: InventoryFilters, tab: str, page, accounts) -> dict:
    list_name = "inventory_users" if tab == "users" else "inventory_roles"
    return {
        "tab": tab,
        "filters": filters,
        "page": page,
        "counts": tab_counts(),
        "truncated": page.paginator.count >= settings.FINDINGS_LIST_MAX_ROWS,
        "accounts": accounts,
        "role_kinds": ROLE_KINDS.items(),
        "list_url": reverse(list_name),
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


@require_GET
@requires(Capability.VIEW)
def users(request):
    filters = InventoryFilters.from_params(request.GET)
    filters.kind = ""
    page = page_of(request, sorted_rows(present(IamUser, filters), filters, users=True))
    arns = [user.arn for user in page]
    entries = {
        (entry.account_id, entry.arn): entry for entry in credential_entries_of(page.object_list)
    }
    findings = open_finding_counts(arns)
    for user in page:
        user.entry = entries.get((user.account_id, user.arn))
        user.open_findings = findings.get((user.account_id, user.arn), 0)
    roots = CredentialReportEntry.objects.filter(gone_at=None, user="<root_account>")
    roots = roots.order_by("account__name")
    if filters.account:
        roots = roots.filter(account__account_id=filters.account)
    show_roots = page.number == 1 and (not filters.q or filters.q.lower() in "root account")
    accounts = account_list()
    context = base_context(request, filters, "users", page, accounts)
    context["roots"] = list(roots) if show_roots else []
    context["rows"] = UserRows(accounts=accounts)(roots=context["roots"], users=page.object_list)
    return render_inventory(request, context)


@require_GET
@requires(Capability.VIEW)
def roles(request):
    filters = InventoryFilters.from_params(request.GET)
    page = page_of(request, sorted_rows(filtered_roles(filters), filters, users=False))
    arns = [role.arn for role in page]
    policies = dict(
        PolicyAttachment.objects.filter(
            gone_at=None,
            account_id__in={role.account_id for role in page},
            principal_arn__in=arns,
            kind__in=["inline", "managed"],
        )
        .order_by()
        .values("principal_arn")
        .annotate(n=Count("id"))
        .values_list("principal_arn", "n")
    )
    findings = open_finding_counts(arns)
    for role in page:
        role.policy_count = policies.get(role.arn, 0)
        role.open_findings = findings.get((role.account_id, role.arn), 0)
    accounts = account_list()
    context = base_context(request, filters, "roles", page, accounts)
    context["rows"] = RoleRows(accounts=accounts)(page.object_list)
    return render_inventory(request, context)


# --- One principal ----------------------------------------------------------------------------


@dataclass
class PolicyView:
    attachment: PolicyAttachment
    via_group: str = ""


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
    cutoff = timezone.now() - timedelta(days=settings.DETECT_UNUSED_SERVICE_DAYS)
    rows = list(
        ServiceLastAccessed.objects.filter(account=account, principal_arn=arn, gone_at=None)
    )
    for row in rows:
        row.is_unused = row.last_authenticated_at is None or row.last_authenticated_at < cutoff
    rows.sort(key=lambda row: (not row.is_unused, row.service_namespace))
    return rows


def risks_of(arn: str, account_id: str, policies: dict[str, list[PolicyView]]) -> dict:
    """The risk summary from the policies already on the page (no query of its own)."""
    documents = [
        Policy(v.attachment.policy_name, v.attachment.kind, v.attachment.document.document)
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
        "risks": risk_summary(perms=perms, account_id=account_id),
        "effective": perms.summary(),
    }


def principal_context(account: AwsAccount, arn: str, group_arns: dict[str, str]) -> dict:
    policies = policies_of(account, {arn: "", **group_arns})
    return {
        **risks_of(arn, account.account_id, policies),
        "inline": policies.get("inline", []),
        "managed": policies.get("managed", []),
        "boundary": policies.get("boundary", []),
        "policy_groups": [
            ("Inline policies", policies.get("inline", [])),
            ("Managed policies", policies.get("managed", [])),
            ("Permissions boundary", policies.get("boundary", [])),
        ],
        "services": service_access(account, arn),
        "unused_service_days": settings.DETECT_UNUSED_SERVICE_DAYS,
        "findings": Finding.objects.filter(account=account, resource_arn=arn).order_by(
            "status", "severity_rank", "-first_seen_at"
        ),
    }


@require_GET
@requires(Capability.VIEW)
def user_detail(request, pk: int):
    user = get_object_or_404(IamUser.objects.select_related("account"), pk=pk)
    groups = list(IamGroup.objects.filter(account=user.account, name__in=user.groups, gone_at=None))
    entry = CredentialReportEntry.objects.filter(
        account=user.account, arn=user.arn, gone_at=None
    ).first()
    context = principal_context(user.account, user.arn, {g.arn: g.name for g in groups})
    context.update(principal=user, entry=entry, groups=user.groups, principal_kind="user")
    context.update(least_privilege_context(user))
    return render(request, "findings/inventory/user.html", context)


@require_GET
@requires(Capability.VIEW)
def role_detail(request, pk: int):
    role = get_object_or_404(IamRole.objects.select_related("account"), pk=pk)
    context = principal_context(role.account, role.arn, {})
    context.update(principal=role, unused_role_days=settings.DETECT_UNUSED_ROLE_DAYS)
    context.update(principal_kind="role", **least_privilege_context(role))
    return render(request, "findings/inventory/role.html", context)
