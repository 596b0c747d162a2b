"""Collection pages: the status of every account and source, the AWS accounts, file imports."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import OuterRef, QuerySet, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import Capability, requires
from findings.forms import AwsAccountChangeForm, AwsAccountForm, ImportForm
from findings.imports import ImportRejected, import_file
from findings.models import AwsAccount, CollectionRun, Source
from findings.registry import add_account, update_account
from findings.runs import AlreadyRunning
from findings.schedule import interval, is_stale
from findings.tasks import enqueue_collection

RECENT_RUNS = 50
ACCOUNT_RECENT_RUNS = 20
# Counts that say what a run saw; the rest (created, updated, ...) say what changed.
CHANGE_SUFFIXES = ("created", "updated", "gone", "unchanged")
# Postgres (jsonb) keeps no key order: name what was seen in the order people read it.
SEEN_ORDER = ["rows", "users", "groups", "roles", "policies", "principals", "services"]
NOT_SHOWN = ("documents", "api_pages")


# --- Reads --------------------------------------------------------------------------------------


def counts_summary(counts: dict) -> str:
    """A run's counts in words: "7 rows; 2 new, 1 changed; findings 3 opened"."""
    numbers = {name: value for name, value in counts.items() if isinstance(value, int)}
    seen_names = [n for n in numbers if not n.endswith(CHANGE_SUFFIXES) and n not in NOT_SHOWN]
    seen_names.sort(key=lambda n: (SEEN_ORDER.index(n) if n in SEEN_ORDER else 99, n))
    seen = [f"{numbers[name]} {name.replace('_', ' ')}" for name in seen_names]
    changes = [
        f"{total} {word}"
        for suffix, word in (("created", "new"), ("updated", "changed"), ("gone", "gone"))
        if (total := sum(v for k, v in numbers.items() if k.endswith(suffix)))
    ]
    detection = counts.get("detection") if isinstance(counts.get("detection"), dict) else {}
    findings = [
        f"{detection[key]} {key}"
        for key in ("opened", "reopened", "resolved")
        if isinstance(detection.get(key), int) and detection[key]
    ]
    parts = [", ".join(seen)] if seen else []
    if changes:
        parts.append(", ".join(changes))
    elif seen:
        parts.append("no change")
    if findings:
        parts.append("findings " + ", ".join(findings))
    return "; ".join(parts)


def duration_text(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    seconds = round(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@dataclass
class SourceStatus:
    source: Source
    latest: CollectionRun | None
    last_success: CollectionRun | None
    every: timedelta
    stale: bool

    @property
    def label(self) -> str:
        return self.source.label

    @property
    def is_active(self) -> bool:
        return self.latest is not None and self.latest.is_active

    @property
    def every_hours(self) -> int:
        return int(self.every.total_seconds() // 3600)

    @property
    def stale_after_hours(self) -> int:
        return 2 * self.every_hours

    @property
    def summary(self) -> str:
        return counts_summary(self.last_success.counts) if self.last_success else ""


@dataclass
class AccountStatus:
    account: AwsAccount
    sources: list[SourceStatus]

    @property
    def is_active(self) -> bool:
        return any(source.is_active for source in self.sources)


@dataclass
class RunRow:
    run: CollectionRun
    summary: str
    took: str


def collection_status(*, accounts: QuerySet, now: datetime) -> list[AccountStatus]:
    """Every account with the latest run and the last success of each source, in two queries.

    Runs of one (account, source) never overlap (the claim), so the newest created is also the
    last finished; both subqueries walk the (account, source, -created_at) index.
    """
    sources = list(Source)
    annotations = {}
    for index, source in enumerate(sources):
        runs = CollectionRun.objects.filter(account=OuterRef("pk"), source=source).order_by(
            "-created_at"
        )
        annotations[f"latest_{index}"] = Subquery(runs.values("pk")[:1])
        annotations[f"success_{index}"] = Subquery(
            runs.filter(status=CollectionRun.Status.SUCCEEDED).values("pk")[:1]
        )
    rows = list(accounts.annotate(**annotations))
    run_ids = {getattr(row, name) for row in rows for name in annotations} - {None}
    runs = CollectionRun.objects.in_bulk(run_ids)
    statuses = []
    for account in rows:
        per_source = []
        for index, source in enumerate(sources):
            success = runs.get(getattr(account, f"success_{index}"))
            per_source.append(
                SourceStatus(
                    source=source,
                    latest=runs.get(getattr(account, f"latest_{index}")),
                    last_success=success,
                    every=interval(source),
                    stale=account.enabled
                    and is_stale(
                        source=source,
                        finished_at=success.finished_at if success else None,
                        now=now,
                    ),
                )
            )
        statuses.append(AccountStatus(account=account, sources=per_source))
    return statuses


def recent_runs(*, account: AwsAccount | None = None, limit: int) -> list[RunRow]:
    runs = CollectionRun.objects.select_related("account", "requested_by").order_by("-created_at")
    if account is not None:
        runs = runs.filter(account=account)
    return [
        RunRow(run=run, summary=counts_summary(run.counts), took=duration_text(run.duration))
        for run in runs[:limit]
    ]


def status_context(*, accounts: QuerySet, account: AwsAccount | None, poll_url: str) -> dict:
    rows = collection_status(accounts=accounts, now=timezone.now())
    return {
        "rows": rows,
        "active": any(row.is_active for row in rows),
        "runs": recent_runs(account=account, limit=ACCOUNT_RECENT_RUNS if account else RECENT_RUNS),
        "one_account": account,
        "poll_url": poll_url,
    }


def render_page(request, template: str, context: dict, *, status: int = 200):
    """The whole page, or only its polled status block when htmx asks."""
    if request.htmx and not request.htmx.history_restore_request:
        template = f"{template}#collection-status"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def safe_next(request, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# --- Collection ---------------------------------------------------------------------------------


@require_GET
@requires(Capability.VIEW)
def collection(request):
    context = status_context(
        accounts=AwsAccount.objects.all(), account=None, poll_url=reverse("collection")
    )
    return render_page(request, "findings/collection.html", context)


@require_POST
@requires(Capability.MANAGE_ACCOUNTS)
def collect_account(request, pk: int):
    account = get_object_or_404(AwsAccount, pk=pk)
    back = redirect(safe_next(request, reverse("collection")))
    source = request.POST.get("source", "")
    if source and source not in Source.values:
        messages.error(request, f"There is no source called “{source}”.")
        return back
    if not account.enabled:
        messages.error(request, f"{account} is disabled: enable it before collecting.")
        return back
    requested, running = [], []
    for each in [Source(source)] if source else list(Source):
        try:
            enqueue_collection(
                account=account,
                source=each,
                trigger=CollectionRun.Trigger.MANUAL,
                requested_by=request.user,
            )
            requested.append(each.label)
        except AlreadyRunning:
            running.append(each.label)
    if requested:
        messages.success(request, f"Collection requested for {account}: {', '.join(requested)}.")
    if running:
        messages.warning(
            request, f"Already running for {account}, not requested again: {', '.join(running)}."
        )
    return back


# --- AWS accounts -------------------------------------------------------------------------------


@require_GET
@requires(Capability.VIEW)
def aws_accounts(request):
    return render(request, "findings/aws_account_list.html", {"accounts": AwsAccount.objects.all()})


@require_http_methods(["GET", "POST"])
@requires(Capability.MANAGE_ACCOUNTS)
def aws_account_add(request):
    form = AwsAccountForm(request.POST) if request.method == "POST" else AwsAccountForm()
    if form.is_bound and form.is_valid():
        try:
            account = add_account(**form.cleaned_data, actor=request.user)
        except ValidationError as exc:
            form.add_model_errors(exc)
        except IntegrityError:  # the same form submitted twice at once: the other one won
            form.add_error("account_id", "This account was registered a moment ago.")
        else:
            messages.success(
                request, f"Added {account}. Use “Collect now” to fetch its data right away."
            )
            return redirect("collection")
    return render(request, "findings/aws_account_form.html", {"form": form})


def account_page(request, account: AwsAccount, form: AwsAccountChangeForm | None):
    accounts = AwsAccount.objects.filter(pk=account.pk)
    poll_url = reverse("aws_account", args=[account.pk])
    context = status_context(accounts=accounts, account=account, poll_url=poll_url)
    context.update(account=account, form=form)
    return render_page(request, "findings/aws_account_detail.html", context)


@require_GET
@requires(Capability.VIEW)
def aws_account(request, pk: int):
    account = get_object_or_404(AwsAccount, pk=pk)
    form = AwsAccountChangeForm.for_account(account)
    return account_page(request, account, form)


@require_POST
@requires(Capability.MANAGE_ACCOUNTS)
def aws_account_edit(request, pk: int):
    account = get_object_or_404(AwsAccount, pk=pk)
    form = AwsAccountChangeForm(request.POST)
    if form.is_valid():
        try:
            update_account(account=account, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_model_errors(exc)
        else:
            messages.success(request, f"Saved {account}.")
            return redirect("aws_account", pk=account.pk)
        account.refresh_from_db()  # show what is stored, not the refused changes
    return account_page(request, account, form)


@require_POST
@requires(Capability.MANAGE_ACCOUNTS)
def aws_account_toggle(request, pk: int):
    account = get_object_or_404(AwsAccount, pk=pk)
    # An explicit target state, so that a form submitted twice does not switch back.
    wanted = request.POST.get("enabled")
    enabled = (wanted == "true") if wanted in ("true", "false") else not account.enabled
    try:
        update_account(account=account, enabled=enabled, actor=request.user)
    except ValidationError as exc:
        messages.error(request, f"{account} could not be changed: {'; '.join(exc.messages)}")
    else:
        state = "enabled: it is collected on schedule" if enabled else "disabled: not collected"
        messages.success(request, f"{account} is {state}.")
    return redirect(safe_next(request, reverse("aws_account", args=[account.pk])))


# --- File import --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires(Capability.MANAGE_ACCOUNTS)
def collection_import(request):
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
    else:
        form = ImportForm(initial={"account": request.GET.get("account")})
    if form.is_bound and form.is_valid():
        account, kind = form.cleaned_data["account"], form.cleaned_data["kind"]
        upload = form.cleaned_data["file"]
        try:
            run = import_file(
                account=account,
                kind=kind,
                data=upload.read(),
                filename=upload.name,
                requested_by=request.user,
            )
        except ImportRejected as exc:
            form.add_error("file", str(exc))
        except AlreadyRunning:
            form.add_error(
                None,
                f"A collection of this source for {account} is already running: "
                "import the file when it has finished.",
            )
        else:
            summary = counts_summary(run.counts) or "nothing in it"
            messages.success(request, f"Imported {upload.name} into {account}: {summary}.")
            return redirect("collection")
    context = {"form": form, "has_accounts": AwsAccount.objects.exists()}
    return render(request, "findings/import.html", context)
