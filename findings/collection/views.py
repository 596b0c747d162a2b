"""Collection pages: the status of every account and source, the AWS accounts, file imports."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import Capability, requires
from findings.collection.forms import AwsAccountChangeForm, AwsAccountForm, ImportForm
from findings.collection.imports import ImportRejected, import_file
from findings.collection.registry import add_account, update_account
from findings.collection.runs import AlreadyRunning
from findings.collection.status import (
    ACCOUNT_RECENT_RUNS,
    RECENT_RUNS,
    collection_status,
    counts_summary,
    recent_runs,
)
from findings.collection.tasks import TaskNotSent, enqueue_collection
from findings.models import AwsAccount, CollectionRun, Source
from iamreview.paging import page_asked
from iamreview.redirects import back_to

# Accounts per page of the Collection page: its status block is re-read every 2 seconds while
# a run is active, so it shows a page of accounts, not an organization's hundreds.
STATUS_ACCOUNTS_PER_PAGE = 25


def status_context(
    *, accounts: QuerySet, account: AwsAccount | None, poll_url: str, page=None
) -> dict:
    rows = collection_status(accounts=accounts, now=timezone.now())
    return {
        "rows": rows,
        "active": any(row.is_active for row in rows),
        "runs": recent_runs(account=account, limit=ACCOUNT_RECENT_RUNS if account else RECENT_RUNS),
        "one_account": account,
        "poll_url": poll_url,
        "accounts_page": page,
    }


def render_page(request, template: str, context: dict, *, status: int = 200):
    """The whole page, or only its polled status block when htmx asks."""
    if request.htmx and not request.htmx.history_restore_request:
        template = f"{template}#collection-status"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- Collection ---------------------------------------------------------------------------------


@requires(Capability.VIEW)
@require_GET
def collection(request):
    page = Paginator(AwsAccount.objects.order_by("name", "account_id"), STATUS_ACCOUNTS_PER_PAGE)
    page = page.get_page(page_asked(request.GET.get("page")))
    base = reverse("collection")
    poll_url = f"{base}?page={page.number}" if page.number > 1 else base
    context = status_context(accounts=page.object_list, account=None, poll_url=poll_url, page=page)
    return render_page(request, "findings/collection/collection.html", context)


def report_outcome(request, account: AwsAccount, runs: QuerySet) -> None:
    """The real outcome when the runs are over (no broker: they ran in the request), or that
    they started, with a worker: the status table below follows them until they end."""
    order = list(Source.values)  # as the status table lists them
    runs = sorted(runs, key=lambda run: order.index(run.source) if run.source in order else 99)
    labels = ", ".join(Source(run.source).label for run in runs)
    if any(run.is_active for run in runs):
        messages.success(
            request,
            f"Collection started for {account}: {labels}. Progress and the outcome of each "
            "source show below.",
        )
        return
    failed = [Source(run.source).label for run in runs if run.status == "failed"]
    if not failed:
        messages.success(request, f"Collected {account}: {labels}.")
    else:
        messages.warning(
            request,
            f"Collected {account}: {len(runs) - len(failed)} of {len(runs)} sources succeeded; "
            f"failed: {', '.join(failed)} (the reasons are below).",
        )


@requires(Capability.MANAGE_ACCOUNTS)
@require_POST
def collect_account(request, pk: int):
    account = get_object_or_404(AwsAccount, pk=pk)
    back = back_to(request, reverse("collection"))
    source = request.POST.get("source", "")
    if source and source not in Source.values:
        messages.error(request, f"There is no source called “{source}”.")
        return back
    if not account.enabled:
        messages.error(request, f"{account} is disabled: enable it before collecting.")
        return back
    requested, running, unsent = [], [], []
    for each in [Source(source)] if source else list(Source):
        try:
            run = enqueue_collection(
                account=account,
                source=each,
                trigger=CollectionRun.Trigger.MANUAL,
                requested_by=request.user,
            )
            requested.append(run.pk)
        except AlreadyRunning:
            running.append(each.label)
        except TaskNotSent:
            unsent.append(each.label)
    if requested:
        report_outcome(request, account, CollectionRun.objects.filter(pk__in=requested))
    if running:
        messages.warning(
            request, f"Already running for {account}, not requested again: {', '.join(running)}."
        )
    if unsent:
        messages.error(
            request,
            f"Not collected for {account}: {', '.join(unsent)}. The task queue (the broker) "
            "could not be reached, so no worker was asked and nothing is left waiting: try "
            "again in a moment. If it goes on, the broker (Redis) is down: /healthz says so.",
        )
    return back


# --- AWS accounts -------------------------------------------------------------------------------


@requires(Capability.VIEW)
@require_GET
def aws_accounts(request):
    return render(
        request, "findings/collection/aws_account_list.html", {"accounts": AwsAccount.objects.all()}
    )


@requires(Capability.MANAGE_ACCOUNTS)
@require_http_methods(["GET", "POST"])
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
    return render(request, "findings/collection/aws_account_form.html", {"form": form})


def account_page(request, account: AwsAccount, form: AwsAccountChangeForm | None):
    accounts = AwsAccount.objects.filter(pk=account.pk)
    poll_url = reverse("aws_account", args=[account.pk])
    context = status_context(accounts=accounts, account=account, poll_url=poll_url)
    context.update(account=account, form=form)
    return render_page(request, "findings/collection/aws_account_detail.html", context)


@requires(Capability.VIEW)
@require_GET
def aws_account(request, pk: int):
    account = get_object_or_404(AwsAccount, pk=pk)
    form = AwsAccountChangeForm.for_account(account)
    return account_page(request, account, form)


@requires(Capability.MANAGE_ACCOUNTS)
@require_POST
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


@requires(Capability.MANAGE_ACCOUNTS)
@require_POST
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
    return back_to(request, reverse("aws_account", args=[account.pk]))


# --- File import --------------------------------------------------------------------------------


@requires(Capability.MANAGE_ACCOUNTS)
@require_http_methods(["GET", "POST"])
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
                principal_arn=form.cleaned_data["principal_arn"].strip(),
                complete=form.cleaned_data["complete"],
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
            summary = counts_summary(counts=run.counts) or "nothing in it"
            messages.success(request, f"Imported {upload.name} into {account}: {summary}.")
            return redirect("collection")
    context = {"form": form, "has_accounts": AwsAccount.objects.exists()}
    return render(request, "findings/collection/import.html", context)
