"""Collection: fetch one source of one account from AWS, store it in one transaction.

AWS calls happen before the transaction (they are the slow part and report progress); the
storage of a source is all-or-nothing, so a failure half-way leaves the previous data untouched.
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import celery
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from findings.aws.access_analyzer import KnownFinding, fetch_access_analyzer
from findings.aws.authorization_details import (
    attached_aws_managed_policy_arns,
    fetch_authorization_details,
    fetch_aws_managed_policies,
)
from findings.aws.credential_report import fetch_credential_report
from findings.aws.errors import AwsError, ParseError
from findings.aws.organizations import own_organization
from findings.aws.records import PrincipalServiceAccess
from findings.aws.service_last_accessed import fetch_service_last_accessed
from findings.aws.session import (
    Session,
    account_id_from_role_arn,
    assume_role_session,
    client,
    hub_session,
)
from findings.collection.ownership import detail_arns, foreign_arn
from findings.collection.recommendations import (
    refresh_finding_recommendations,
    validate_suggestions_with_aws,
)
from findings.collection.runs import (
    RunLost,
    finish_run,
    heartbeat,
    hold_run,
    last_success,
    note_lost_run,
    report_progress,
    start_run,
)
from findings.collection.store import (
    aws_managed_partitions_due,
    store_access_analyzer,
    store_authorization_details,
    store_aws_managed_policies,
    store_credential_report,
    store_service_last_accessed,
)
from findings.models import (
    AccessAnalyzerFinding,
    AwsAccount,
    CollectionRun,
    IamRole,
    IamUser,
    Source,
)
from findings.reviews.freshness import detect_and_refresh
from findings.reviews.releases import take_in_collected_roles
from findings.reviews.services import verify_remediations
from findings.rightsizing.services import refresh_suggestions
from iamreview.log_context import log_context

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


class CollectionFailed(Exception):
    """Nothing usable came back; the message says why in plain words."""


@dataclass
class Outcome:
    counts: dict = field(default_factory=dict)
    data_generated_at: datetime | None = None
    warning: str = ""
    # What was read is stored, but too little of it: the run fails with this message.
    failure: str = ""


def account_session(*, account: AwsAccount, purpose: str) -> Session:
    """The AWS session for one unit of work in `account`: its role, or our own credentials."""
    if not account.role_arn:
        return hub_session()
    owner = account_id_from_role_arn(account.role_arn)
    if owner != account.account_id:
        # A role reads its own account's IAM: this one would store account `owner`'s users,
        # roles and report as this account's (a configuration error, before any AWS call).
        raise ValueError(
            f"{account.role_arn} is a role in account {owner}, not in {account.account_id}: "
            "the role to assume must be in the account it reads"
        )
    return assume_role_session(
        role_arn=account.role_arn,
        external_id=account.external_id or None,
        session_name=f"iamreview-{purpose}"[:64],
    )


def check_owner(*, account: AwsAccount, arns: Iterable[str]) -> None:
    """Refuse what AWS answered for another account before storing it (ValueError: the
    account's configuration is wrong). Without a role to assume, the collector reads the account
    its own credentials are in, whatever account id was typed."""
    if found := foreign_arn(account=account, arns=arns):
        owner, arn = found
        how = (
            f"the role {account.role_arn}"
            if account.role_arn
            else "iamreview's own credentials (no role to assume is set)"
        )
        raise ValueError(
            f"AWS answered with account {owner}'s data (it lists {arn[:200]}), not "
            f"{account.account_id}'s, through {how}: set the role to assume in "
            f"{account.account_id}; nothing was stored"
        )


def _previous_seen_at(account: AwsAccount, source: str) -> datetime | None:
    run = last_success(account=account, source=source)
    return run.finished_at if run else None


def _collect_credential_report(run: CollectionRun, progress: Progress) -> Outcome:
    account = run.account
    progress(0, 2, "Fetching the credential report (AWS may need a minute to generate it)")
    iam = client(account_session(account=account, purpose="credential-report"), "iam")
    report = fetch_credential_report(iam)
    check_owner(account=account, arns=(row.arn for row in report.rows))
    progress(1, 2, f"Storing {len(report.rows)} credential report rows")
    with transaction.atomic():
        counts = store_credential_report(
            account=account,
            report=report,
            now=timezone.now(),
            previous_seen_at=_previous_seen_at(account, Source.CREDENTIAL_REPORT),
        )
        hold_run(run=run)
    return Outcome(counts=counts, data_generated_at=report.generated_at)


def _organization_of(*, account: AwsAccount, session: Session) -> str:
    """Which organization a hand-added account is in, as its own DescribeOrganization says:
    stored, since it decides which organization analyzers cover the account's regions
    (discovery records it for the accounts it lists, and is not asked again). Returns what the
    run's counts show ("" for a discovered account); a failure (the role may not call it)
    changes nothing."""
    if account.origin != AwsAccount.Origin.MANUAL:
        return ""
    try:
        found = own_organization(client(session, "organizations"))
    except (AwsError, ParseError) as exc:
        logger.info("DescribeOrganization for %s failed: %s", account, exc)
        return f"unknown: {exc}"
    organization = found or AwsAccount.NO_ORGANIZATION
    if organization != account.organization_id:
        AwsAccount.objects.filter(pk=account.pk).update(organization_id=organization)
        account.organization_id = organization
    return organization


def _download_aws_managed_policies(*, iam: Any, used: set[str], progress: Progress) -> dict:
    """AWS's own policies, when this account uses some and no collection of any account
    downloaded them within a day: every one of them, stored for every account (its own
    transaction: they stay stored whatever becomes of this account's run). Returns the counts."""
    due = aws_managed_partitions_due(arns=used, now=timezone.now())
    if not due:
        return {}
    progress(1, 3, "Reading every AWS-managed policy, once a day for all accounts")
    downloaded = fetch_aws_managed_policies(iam)
    with transaction.atomic():
        counts = store_aws_managed_policies(partitions=due, details=downloaded, now=timezone.now())
    return {**counts, "aws_managed_pages": downloaded.pages}


def _collect_authorization_details(run: CollectionRun, progress: Progress) -> Outcome:
    account = run.account
    progress(0, 3, "Reading users, groups, roles and policies (GetAccountAuthorizationDetails)")
    session = account_session(account=account, purpose="authorization-details")
    iam = client(session, "iam")
    details = fetch_authorization_details(iam)
    check_owner(account=account, arns=detail_arns(details=details))
    aws_managed = _download_aws_managed_policies(
        iam=iam, used=attached_aws_managed_policy_arns(details), progress=progress
    )
    progress(2, 3, f"Storing {len(details.users)} users and {len(details.roles)} roles")
    with transaction.atomic():
        counts = store_authorization_details(
            account=account,
            details=details,
            aws_managed_policies=(),  # stored above, or fresh from another account's download
            now=timezone.now(),
            previous_seen_at=_previous_seen_at(account, Source.AUTHORIZATION_DETAILS),
        )
        hold_run(run=run)
    counts["api_pages"] = details.pages + aws_managed.pop("aws_managed_pages", 0)
    counts.update(aws_managed)
    if organization := _organization_of(account=account, session=session):
        counts["organization"] = organization
    return Outcome(counts=counts)


# What IAM answers about a principal deleted since it was stored.
PRINCIPAL_GONE = "NoSuchEntity"


def _collect_service_last_accessed(run: CollectionRun, progress: Progress) -> Outcome:
    account = run.account
    principals = list(
        IamUser.objects.filter(account=account, gone_at=None).values_list("arn", flat=True)
    ) + list(IamRole.objects.filter(account=account, gone_at=None).values_list("arn", flat=True))
    if not principals:
        # Not a success: it read nothing, and a success would count this source as fresh.
        raise CollectionFailed(
            "Nothing to ask about: no users or roles stored yet. Collect users, roles and "
            "policies first, then this source."
        )
    # One session generates and reads every job: AWS lets only the starting session read one.
    iam = client(account_session(account=account, purpose="service-last-accessed"), "iam")
    progress(0, len(principals), f"Service last-accessed jobs for {len(principals)} principals")
    # One principal first: when the role may not run these jobs at all (AccessDenied, an
    # endpoint without them), say so once instead of failing every principal in turn. A
    # principal deleted in AWS since users and roles were collected (NoSuchEntity) says that
    # about itself alone: it stays unread, and the next one is asked.
    probed: list[PrincipalServiceAccess] = []
    for arn in principals:
        probed += fetch_service_last_accessed(iam, principal_arns=[arn], max_concurrency=1)
        if probed[-1].error_code != PRINCIPAL_GONE:
            break
    first = probed[-1]
    if first.job_status == "ERROR" and first.error_code != PRINCIPAL_GONE:
        raise CollectionFailed(first.error or "GenerateServiceLastAccessedDetails failed")
    asked = len(probed)
    results = probed + list(
        fetch_service_last_accessed(
            iam,
            principal_arns=principals[asked:],
            progress=lambda done, total: progress(
                done + asked, total + asked, f"{done + asked} of {total + asked} principals read"
            ),
        )
    )
    with transaction.atomic():
        counts = store_service_last_accessed(
            account=account,
            results=results,
            now=timezone.now(),
            previous_seen_at=_previous_seen_at(account, Source.SERVICE_LAST_ACCESSED),
        )
        hold_run(run=run)
    return Outcome(counts=counts, **_unread_principals(results))


# More than this share of the principals unread fails the run (what was read is still stored):
# a run that read almost nobody (the session expired, IAM throttled past every retry) must not
# count as fresh data. A smaller share is a success with a warning naming the principals.
SERVICE_LAST_ACCESSED_MAX_UNREAD_SHARE = 0.5


def _unread_principals(results: Sequence[PrincipalServiceAccess]) -> dict:
    """The warning, or the failure, of the principals whose job failed."""
    failed = [r for r in results if r.error or r.job_status != "COMPLETED"]
    if not failed:
        return {}
    if len(failed) > SERVICE_LAST_ACCESSED_MAX_UNREAD_SHARE * len(results):
        errors = Counter(r.error or f"job {r.job_status}" for r in failed)
        named = "; ".join(f"{error} ({n} of them)" for error, n in errors.most_common(3))
        if len(errors) > 3:
            named += f"; and {len(errors) - 3} other errors"
        return {
            "failure": (
                f"{len(failed)} of {len(results)} principals could not be read, more than "
                f"{SERVICE_LAST_ACCESSED_MAX_UNREAD_SHARE:.0%}: {named}. What the other "
                f"{len(results) - len(failed)} showed is stored; the unread principals keep "
                "their previous data."
            )
        }
    sample = "; ".join(f"{r.principal_arn}: {r.error or r.job_status}" for r in failed[:3])
    return {"warning": f"{len(failed)} of {len(results)} principals could not be read ({sample})"}


def _stored_findings(*, account: AwsAccount, regions: list[str]) -> dict[str, KnownFinding]:
    """The account's findings collected from these regions' analyzers with their details: one
    that AWS lists unchanged (same updatedAt) is not read again with GetFindingV2."""
    rows = (
        AccessAnalyzerFinding.objects.filter(account=account, region__in=regions)
        .exclude(analyzer_arn="")
        .exclude(details=[])
        .values_list("finding_id", "analyzer_arn", "aws_updated_at", "details")
    )
    return {
        finding_id: KnownFinding(
            analyzer_arn=analyzer_arn, updated_at=updated_at, details=tuple(details)
        )
        for finding_id, analyzer_arn, updated_at, details in rows
        if isinstance(details, list)
    }


# Recommendations are the last AWS calls of an Access Analyzer collection; detection,
# right-sizing and ValidatePolicy come after them in the same task. None is started past this
# share of the task's soft time limit (CELERY_TASK_SOFT_TIME_LIMIT): the rest come next run.
RECOMMENDATIONS_SHARE_OF_TIME_LIMIT = 0.6


def _collect_access_analyzer(run: CollectionRun, progress: Progress) -> Outcome:
    account = run.account
    regions = account.regions or ["us-east-1"]
    progress(0, len(regions), f"Reading Access Analyzer in {', '.join(regions)}")
    session = account_session(account=account, purpose="access-analyzer")
    snapshot = fetch_access_analyzer(
        session,
        regions=regions,
        progress=lambda done, total: progress(done, total, f"{done} of {total} regions read"),
        known=_stored_findings(account=account, regions=regions),
    )
    if snapshot.region_errors and len(snapshot.region_errors) == len(regions):
        raise CollectionFailed(
            "; ".join(f"{region}: {error}" for region, error in snapshot.region_errors.items())
        )
    # Each analyzer's ARN names the account it is in (an organization analyzer's findings name
    # other owners, rightly: the analyzer is what was read here).
    check_owner(account=account, arns=(analyzer.arn for analyzer in snapshot.analyzers))
    with transaction.atomic():
        counts = store_access_analyzer(
            account=account,
            snapshot=snapshot,
            regions=[r for r in regions if r not in snapshot.region_errors],
            now=timezone.now(),
            previous_seen_at=_previous_seen_at(account, Source.ACCESS_ANALYZER),
        )
        hold_run(run=run)
    warning = "; ".join(f"{region}: {error}" for region, error in snapshot.region_errors.items())
    if snapshot.region_errors:
        # Detection judges no region it could not read (whether it has an analyzer is unknown).
        counts["unread_regions"] = sorted(snapshot.region_errors)
    share = settings.CELERY_TASK_SOFT_TIME_LIMIT * RECOMMENDATIONS_SHARE_OF_TIME_LIMIT
    try:
        counts["recommendations"] = refresh_finding_recommendations(
            account=account,
            client_for_region=lambda region: client(session, "accessanalyzer", region),
            deadline=(run.started_at or timezone.now()) + timedelta(seconds=share),
        )
    except SoftTimeLimitExceeded:
        raise  # the task's time is up: the run fails (the recommendations fetched are stored)
    except Exception:  # an extra: the findings themselves are stored
        logger.exception("Access Analyzer recommendations for %s failed", account)
    return Outcome(counts=counts, warning=warning)


COLLECTORS: dict[str, Callable[[CollectionRun, Progress], Outcome]] = {
    Source.CREDENTIAL_REPORT: _collect_credential_report,
    Source.AUTHORIZATION_DETAILS: _collect_authorization_details,
    Source.SERVICE_LAST_ACCESSED: _collect_service_last_accessed,
    Source.ACCESS_ANALYZER: _collect_access_analyzer,
}


def run_collection(*, run: CollectionRun, on_progress: Progress | None = None) -> CollectionRun:
    """Carry out a claimed run. Never raises for AWS or data errors: the run records them.

    Every log line written meanwhile carries the run id, the account and the source."""
    with log_context(run_id=run.pk, account=run.account.account_id, source=run.source):
        logger.info("Collection started")
        _run_collection(run=run, on_progress=on_progress)
        run.refresh_from_db()
        log = logger.info if run.status == CollectionRun.Status.SUCCEEDED else logger.warning
        log("Collection %s", run.status, extra={"status": run.status, "error": run.error})
    return run


def _run_collection(*, run: CollectionRun, on_progress: Progress | None) -> None:
    # A run from pick_up_run is already started; a queued one is started here, unless another
    # delivery started it first or the sweep failed it (start_run says which, in the log).
    if run.status == CollectionRun.Status.QUEUED and not start_run(run=run):
        return
    if run.status != CollectionRun.Status.RUNNING:
        # Failed by the sweep, or finished: a worker holding an old copy asked AWS all over
        # again for a run whose result could no longer be stored.
        logger.warning("Run %s not carried out: it is %s", run.pk, run.status)
        return

    def progress(done: int, total: int, message: str) -> None:
        report_progress(run_id=run.pk, done=done, total=total, message=message)
        if on_progress is not None:
            on_progress(done, total, message)

    try:
        with heartbeat(run_id=run.pk):
            outcome = COLLECTORS[run.source](run, progress)
    except RunLost:  # failed by the sweep meanwhile (a retry may hold the source): rolled back
        note_lost_run(
            run=run,
            outcome="had read AWS, but stored nothing of it (another run may have stored the "
            "source meanwhile); its next collection reads it again",
        )
    except SoftTimeLimitExceeded:  # Celery's warning before it kills the task
        finish_run(
            run=run,
            succeeded=False,
            error="Ran out of time: the task's soft time limit (CELERY_TASK_SOFT_TIME_LIMIT, "
            f"{settings.CELERY_TASK_SOFT_TIME_LIMIT} s) came first; what was stored before it "
            "stays, and the next run reads AWS again",
        )
    except (AwsError, ParseError, CollectionFailed) as exc:
        finish_run(run=run, succeeded=False, error=str(exc))
    except ValueError as exc:  # a malformed role ARN and the like: configuration errors
        finish_run(run=run, succeeded=False, error=f"Configuration error: {exc}")
    except Exception as exc:
        logger.exception("Collection run %s failed unexpectedly", run.pk)
        finish_run(
            run=run, succeeded=False, error=f"Unexpected error: {exc.__class__.__name__}: {exc}"
        )
    else:
        finished = finish_run(
            run=run,
            succeeded=not outcome.failure,
            counts=outcome.counts,
            error=outcome.failure or outcome.warning,
            data_generated_at=outcome.data_generated_at,
        )
        if finished and not outcome.failure:
            detect_after(run=run)


# The task that runs detect_owner (findings.collection.tasks, a layer above this module).
DETECT_OWNER = "findings.detect_owner"


def detect_owner(*, account: AwsAccount, run_id: int) -> None:
    """Detection of an account whose findings another account's collection changed (an
    organization analyzer's, about its resources), and the check of its "remediate" items
    against them: its own collection may be failing, and would otherwise never do either."""
    detect_and_refresh(account=account)
    verify_remediations(account=account, run_id=run_id)


def _detect_owner_later(*, account: AwsAccount, run_id: int) -> None:
    """On a worker (without a broker, here): an import's request should not wait for every
    member account's detection. A broker that cannot take it is no reason to lose it."""
    app = celery.current_app
    try:
        if app.conf.task_always_eager:
            detect_owner(account=account, run_id=run_id)
            return
        try:
            app.send_task(DETECT_OWNER, args=[account.pk, run_id])
        except KombuOperationalError:
            logger.warning("Broker unavailable: detection of %s runs here", account)
            detect_owner(account=account, run_id=run_id)
    except SoftTimeLimitExceeded:
        raise
    except Exception:
        logger.exception("Detection of %s after run %s failed", account, run_id)


def _other_owners_changed(*, run: CollectionRun) -> list[AwsAccount]:
    """The other registered accounts whose resources an organization analyzer's findings,
    stored under this account by `run`, are about, where a finding changed: their findings
    are theirs, and would wait for their own next collection (for ever, if it keeps failing)."""
    since = run.started_at or run.created_at
    owners = (
        AccessAnalyzerFinding.objects.filter(account=run.account, changed_at__gte=since)
        .exclude(resource_owner_account=run.account.account_id)
        .values("resource_owner_account")
    )
    return list(AwsAccount.objects.filter(account_id__in=owners).order_by("pk"))


def detect_after(*, run: CollectionRun) -> None:
    """Fresh evidence: bring the account's findings up to date (a failure here is logged, the
    collection itself stays a success).

    Celery's soft time limit is not one more failure to log and go past (on to right-sizing,
    until the hard limit kills the worker mid-write): it stops here, the run says that its
    findings were not brought up to date, and the task ends with it."""
    try:
        _detect_after(run=run)
    except SoftTimeLimitExceeded:
        _note_detection_unfinished(run=run)
        raise


def _note_detection_unfinished(*, run: CollectionRun) -> None:
    note = (
        "Collected and stored, but detection ran out of time (the task's soft time limit, "
        f"CELERY_TASK_SOFT_TIME_LIMIT, {settings.CELERY_TASK_SOFT_TIME_LIMIT} s): findings, "
        "remediation checks and suggestions were not brought up to date from this run; the "
        "account's next collection does it"
    )
    run.refresh_from_db(fields=["error"])
    error = f"{run.error}; {note}" if run.error else note
    CollectionRun.objects.filter(pk=run.pk).update(error=error[:5000])
    logger.warning("Detection after run %s ran out of time", run.pk)


def _detect_after(*, run: CollectionRun) -> None:
    try:
        counts = detect_and_refresh(account=run.account)
        verified = verify_remediations(account=run.account, run_id=run.pk)
    except SoftTimeLimitExceeded:
        raise
    except Exception:
        logger.exception("Detection after run %s failed", run.pk)
        return
    if run.source == Source.ACCESS_ANALYZER:
        for owner in _other_owners_changed(run=run):
            _detect_owner_later(account=owner, run_id=run.pk)
    try:
        # A role a release named before it was collected joins the release's open review.
        take_in_collected_roles(account=run.account)
    except SoftTimeLimitExceeded:
        raise
    except Exception:
        logger.exception("Taking collected roles into release reviews after run %s failed", run.pk)
    try:
        suggested = refresh_suggestions(account=run.account)
    except SoftTimeLimitExceeded:
        raise
    except Exception:
        logger.exception("Right-sizing after run %s failed", run.pk)
        suggested = None
    if suggested and run.source == Source.ACCESS_ANALYZER:
        # ValidatePolicy with the account's session, once its Access Analyzer is reachable.
        try:
            session = account_session(account=run.account, purpose="validate-policy")
            region = (run.account.regions or ["us-east-1"])[0]
            validate_suggestions_with_aws(
                account=run.account, analyzer=client(session, "accessanalyzer", region)
            )
        except SoftTimeLimitExceeded:
            raise
        except Exception:
            logger.exception("ValidatePolicy after run %s failed", run.pk)
    detection = {**counts.as_dict(), "remediations_verified": verified, "suggestions": suggested}
    CollectionRun.objects.filter(pk=run.pk).update(counts={**run.counts, "detection": detection})
