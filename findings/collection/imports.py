"""Import evidence from files saved with the AWS CLI, through the same parsers and storage."""

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from django.conf import settings
from django.db import DataError, transaction
from django.utils import timezone

from accounts.models import User
from findings.audit.services import record
from findings.aws.access_analyzer import parse_findings_file
from findings.aws.authorization_details import parse_authorization_details_file
from findings.aws.credential_report import parse_credential_report
from findings.aws.errors import ParseError
from findings.aws.records import AccessAnalyzerSnapshot, CredentialReport
from findings.aws.service_last_accessed import parse_service_last_accessed_file
from findings.collection.collectors import detect_after
from findings.collection.ownership import detail_arns, foreign_arn, other_findings_owner
from findings.collection.runs import (
    RunLost,
    claim_run,
    finish_run,
    heartbeat,
    hold_run,
    last_success,
    note_lost_run,
    start_run,
)
from findings.collection.store import (
    store_access_analyzer,
    store_authorization_details,
    store_credential_report,
    store_service_last_accessed,
)
from findings.models import AwsAccount, CollectionRun, Source

KINDS = {
    "credential-report": Source.CREDENTIAL_REPORT,
    "authorization-details": Source.AUTHORIZATION_DETAILS,
    "access-analyzer-findings": Source.ACCESS_ANALYZER,
    "service-last-accessed": Source.SERVICE_LAST_ACCESSED,
}
# Kinds that describe one principal, named by --arn.
PRINCIPAL_KINDS = {"service-last-accessed"}


class ImportRejected(Exception):
    """The whole file was refused; nothing was stored."""


def check_size(*, size: int) -> None:
    limit = settings.IAMREVIEW_IMPORT_MAX_BYTES
    if size > limit:
        raise ImportRejected(
            # MB of 1,048,576 bytes, as the README and IAMREVIEW_IMPORT_MAX_BYTES's default say.
            f"The file is {size / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB "
            "(IAMREVIEW_IMPORT_MAX_BYTES)."
        )


def check_account(*, account: AwsAccount, arns: Iterable[str]) -> None:
    """Refuse a file of another account: its users would be stored as this account's, and
    this account's own marked gone. The service-last-accessed import checks its one principal
    the same way."""
    if found := foreign_arn(account=account, arns=arns):
        owner, arn = found
        raise ParseError(
            f"the file is account {owner}'s (it lists {arn[:200]}), not "
            f"{account.account_id}'s ({account.name}): choose that account, or this "
            "account's file"
        )


def store_parsed(
    *,
    account: AwsAccount,
    kind: str,
    data: bytes,
    previous_seen_at: datetime | None,
    principal_arn: str = "",
    complete: bool = False,
) -> tuple:
    now = timezone.now()
    if kind == "service-last-accessed":
        result = parse_service_last_accessed_file(data, principal_arn=principal_arn)
        if result.principal_arn.split(":")[4] != account.account_id:
            raise ParseError(
                f"{principal_arn} is not in account {account.account_id}", field="--arn"
            )
        counts = store_service_last_accessed(
            account=account,
            results=(result,),
            now=now,
            previous_seen_at=previous_seen_at,
            every_principal=False,
        )
        # When AWS finished the job is when the data was read, however old the file is.
        return counts, result.completed_at
    if kind == "credential-report":
        # A saved CSV has no GeneratedTime (the CLI prints only Content): the import time
        # stands in for it.
        report = CredentialReport(
            generated_at=now, content=data, rows=parse_credential_report(data)
        )
        check_account(account=account, arns=(row.arn for row in report.rows))
        counts = store_credential_report(
            account=account, report=report, now=now, previous_seen_at=previous_seen_at
        )
        return counts, report.generated_at
    if kind == "authorization-details":
        details = parse_authorization_details_file(data, complete=complete)
        check_account(account=account, arns=detail_arns(details=details))
        aws_policies = tuple(p for p in details.policies if p.is_aws_managed)
        own = tuple(p for p in details.policies if not p.is_aws_managed)
        counts = store_authorization_details(
            account=account,
            details=replace(details, policies=own),
            aws_managed_policies=aws_policies,
            now=now,
            previous_seen_at=previous_seen_at,
        )
        return counts, None
    findings = parse_findings_file(data)
    if owner := other_findings_owner(account=account, findings=findings):
        raise ParseError(
            f"the file is account {owner}'s (every finding's resourceOwnerAccount is {owner}), "
            f"not {account.account_id}'s ({account.name}): choose that account, or this "
            "account's file"
        )
    snapshot = AccessAnalyzerSnapshot(analyzers=(), findings=findings, region_errors={})
    counts = store_access_analyzer(
        account=account, snapshot=snapshot, regions=None, now=now, previous_seen_at=previous_seen_at
    )
    return counts, None


def import_file(
    *,
    account: AwsAccount,
    kind: str,
    data: bytes,
    filename: str = "",
    requested_by: User | None = None,
    principal_arn: str = "",
    complete: bool = False,
) -> CollectionRun:
    """Parse and store one file as a run. A bad file is rejected whole: ImportRejected.

    `complete` (authorization details): the file was made without `--filter`, so a type with
    no entries in it means the account has none left; otherwise such a type is kept."""
    if kind not in KINDS:
        raise ImportRejected(f"Unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    if kind in PRINCIPAL_KINDS and not principal_arn:
        raise ImportRejected(f"A {kind} file describes one principal: name it with --arn")
    check_size(size=len(data))
    source = KINDS[kind]
    run = claim_run(
        account=account,
        source=source,
        trigger=CollectionRun.Trigger.IMPORT,
        requested_by=requested_by,
        detail=filename,
    )
    if not start_run(run=run):  # the sweep failed it first: nothing was read
        raise ImportRejected(f"{filename or 'The file'} was not imported: {run.error}")
    previous = last_success(account=account, source=source)
    try:
        # A big file takes a while: the heartbeat tells the sweep this run is alive, so that
        # no other run of the source is started beside it.
        with heartbeat(run_id=run.pk), transaction.atomic():
            counts, generated_at = store_parsed(
                account=account,
                kind=kind,
                data=data,
                previous_seen_at=previous.finished_at if previous else None,
                principal_arn=principal_arn,
                complete=complete,
            )
            hold_run(run=run)
    except RunLost as exc:  # failed by the sweep meanwhile: the storage was rolled back
        note_lost_run(
            run=run,
            outcome="had read the file, but stored nothing of it (the source may have been "
            "collected meanwhile): import the file again",
        )
        raise ImportRejected(
            f"{filename or 'The file'} was not stored: its run was failed while it was being "
            "imported (no heartbeat reached the database). Import it again."
        ) from exc
    except (ParseError, DataError) as exc:  # DataError: a value the database refuses
        finish_run(run=run, succeeded=False, error=f"{filename or 'file'}: {exc}")
        raise ImportRejected(
            f"{filename or 'The file'} was rejected, nothing was stored: {exc}"
        ) from exc
    except Exception as exc:  # never leave the claim held by a run that stopped
        finish_run(run=run, succeeded=False, error=f"Unexpected error: {exc!r}")
        raise
    finish_run(run=run, succeeded=True, counts=counts, data_generated_at=generated_at)
    record(
        actor=requested_by,
        action="evidence.imported",
        target_type="collection_run",
        target_id=run.pk,
        target_label=f"{kind} {filename} into {account}",
        after={
            "account": account.account_id,
            "kind": kind,
            "file": filename,
            "counts": counts,
            **({"principal": principal_arn} if principal_arn else {}),
            **({"complete": True} if complete and kind == "authorization-details" else {}),
        },
    )
    detect_after(run=run)
    run.refresh_from_db()
    return run
