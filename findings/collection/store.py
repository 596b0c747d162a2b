"""Map collected records (findings.aws.records) onto stored evidence, one source at a time.

Live collection and file import both end here, so both store exactly the same way. Callers
wrap each call in one transaction.
"""

import hashlib
import re
from dataclasses import fields
from datetime import datetime, timedelta

from django.db.models import Exists, Q

from findings.aws.access_analyzer import (
    ANALYZER_STATUSES_WITHOUT_FINDINGS,
    FINDING_TYPES_OF_KIND,
    KIND_OF_FINDING_TYPE,
)
from findings.aws.records import (
    ROOT_USER,
    AccessAnalyzerSnapshot,
    AuthorizationDetails,
    CredentialReport,
    CredentialReportRow,
    GroupDetail,
    ManagedPolicyDetail,
    PrincipalServiceAccess,
    RoleDetail,
    UserDetail,
)
from findings.collection.activity import refresh_user_activity
from findings.collection.storage import BATCH_SIZE, intern_documents, sync_observed
from findings.models import (
    AccessAnalyzerFinding,
    Analyzer,
    AwsAccount,
    AwsManagedPolicyDownload,
    CollectionRun,
    CredentialReportEntry,
    IamGroup,
    IamRole,
    IamUser,
    ManagedPolicy,
    PolicyAttachment,
    ServiceLastAccessed,
)
from findings.models import CredentialReport as StoredReport
from findings.models.fingerprints import fingerprint
from findings.policy.documents import document_hash

AWS_MANAGED_POLICY_MAX_AGE = timedelta(hours=24)


# --- Credential report -------------------------------------------------------------------------

CREDENTIAL_FIELDS = [f.name for f in fields(CredentialReportRow) if f.name != "line_number"]


def _credential_values(row: CredentialReportRow) -> dict:
    values = {}
    for name in CREDENTIAL_FIELDS:
        value = getattr(row, name)
        # Text columns store "" for "none"; the *_reason column keeps why a date is absent.
        if value is None and (name.endswith(("_reason", "_region", "_service"))):
            value = ""
        values[name] = value
    return values


def store_credential_report(
    *,
    account: AwsAccount,
    report: CredentialReport,
    now: datetime,
    previous_seen_at: datetime | None,
) -> dict:
    sha = hashlib.sha256(report.content).hexdigest()
    copy, created = StoredReport.objects.get_or_create(
        account=account,
        sha256=sha,
        defaults={
            "generated_at": report.generated_at,
            "content": report.content,
            "row_count": len(report.rows),
            "collected_at": now,
        },
    )
    if not created:
        # The same report as an older copy, with others collected since (a quiet account back
        # where it was): it is the latest again, the one retention keeps. Still the latest,
        # it is not written.
        StoredReport.objects.filter(pk=copy.pk).filter(
            Exists(StoredReport.objects.filter(account=account, collected_at__gt=copy.collected_at))
        ).update(collected_at=now, generated_at=max(report.generated_at, copy.generated_at))
    # AWS's report always has the root user's row: one without it (a simulator, a hand-edited
    # file) says nothing about root, whose row and findings are kept, not read as gone.
    has_root = any(row.user == ROOT_USER for row in report.rows)
    counts = sync_observed(
        model=CredentialReportEntry,
        account=account,
        records=[_credential_values(row) for row in report.rows],
        now=now,
        previous_seen_at=previous_seen_at,
        scope=None if has_root else ~Q(user=ROOT_USER),
    )
    refresh_user_activity(account=account)
    return {"rows": len(report.rows), **counts.as_dict()}


# --- Users, groups, roles and policies ---------------------------------------------------------


def aws_managed_partitions_due(*, arns: set[str], now: datetime) -> set[str]:
    """The partitions (aws, aws-cn, ...) of the AWS-managed policies in ``arns`` whose policies
    no collection downloaded within AWS_MANAGED_POLICY_MAX_AGE: one download, by whichever
    account's collection comes first, serves every account of the partition for that long."""
    partitions = {arn.split(":")[1] for arn in arns}
    fresh = AwsManagedPolicyDownload.objects.filter(
        partition__in=partitions, downloaded_at__gt=now - AWS_MANAGED_POLICY_MAX_AGE
    ).values_list("partition", flat=True)
    return partitions - set(fresh)


def store_aws_managed_policies(
    *, partitions: set[str], details: AuthorizationDetails, now: datetime
) -> dict:
    """Store what a download of every AWS-managed policy returned, for every account: new and
    changed policies are written, unchanged ones are not touched. The download itself is
    recorded for ``partitions``, which keeps all of them fresh for a day."""
    policies = [policy for policy in details.policies if policy.is_aws_managed]
    document_ids = intern_documents(documents=(p.document for p in policies), now=now)
    written = store_managed_policies(
        account=None,
        policies=policies,
        document_ids=document_ids,
        now=now,
        revives_withdrawn=True,
    )
    withdrawn = 0
    for partition in sorted(partitions):
        withdrawn += _mark_withdrawn(partition=partition, listed={p.arn for p in policies}, now=now)
        AwsManagedPolicyDownload.objects.update_or_create(
            partition=partition, defaults={"downloaded_at": now, "policy_count": len(policies)}
        )
    counts = {"aws_managed_policies": len(policies), "aws_managed_written": written}
    if withdrawn:
        counts["aws_managed_withdrawn"] = withdrawn
    return counts


# A download listing fewer than this share of the AWS-managed policies stored is not taken to
# mean that AWS withdrew the rest: AWS withdraws a few at a time, never most of them at once.
WITHDRAWN_ONLY_IF_LISTED_AT_LEAST = 0.5


def _mark_withdrawn(*, partition: str, listed: set[str], now: datetime) -> int:
    """Mark gone the partition's stored AWS-managed policies that a complete download no longer
    lists: AWS withdrew them. Only a download that reached its last page gets here (a failed
    page raises before anything is stored); one that lists none of the partition's, or far
    fewer than are stored, says more about the download than about AWS, and marks nothing.

    Nothing is deleted: principals attached before AWS withdrew a policy keep it, and their
    attachments keep pointing at its stored document. Listed again by a download, it is no
    longer gone (store_managed_policies rewrites it); a file never says so."""
    prefix = f"arn:{partition}:iam::aws:policy/"
    stored = ManagedPolicy.objects.filter(is_aws_managed=True, gone_at=None, arn__startswith=prefix)
    listed_here = {arn for arn in listed if arn.startswith(prefix)}
    total = stored.count()
    if not listed_here or len(listed_here) < total * WITHDRAWN_ONLY_IF_LISTED_AT_LEAST:
        return 0
    previous = (
        AwsManagedPolicyDownload.objects.filter(partition=partition)
        .values_list("downloaded_at", flat=True)
        .first()
    )
    return stored.exclude(arn__in=listed_here).update(
        gone_at=now, last_seen_at=previous, changed_at=now
    )


def store_managed_policies(
    *,
    account: AwsAccount | None,
    policies: list[ManagedPolicyDetail],
    document_ids: dict[str, int],
    now: datetime,
    revives_withdrawn: bool,
) -> int:
    """Upsert managed policies by ARN; unchanged ones are not written.

    A policy that was gone and is listed again is no longer gone (written even if unchanged),
    except an AWS-managed one AWS withdrew, unless ``revives_withdrawn``: only a complete
    download of AWS's policies tells that AWS lists it again, not an old file that still
    holds it (which may still bring a later version of it)."""
    if not policies:
        return 0
    existing = {
        arn: (print_, gone_at, last_seen_at)
        for arn, print_, gone_at, last_seen_at in ManagedPolicy.objects.filter(
            arn__in=[p.arn for p in policies]
        ).values_list("arn", "fingerprint", "gone_at", "last_seen_at")
    }
    rows = []
    for policy in policies:
        sha = document_hash(document=policy.document) if policy.document is not None else ""
        values = {
            "name": policy.name,
            "path": policy.path,
            "policy_id": policy.policy_id or "",
            "default_version_id": policy.default_version_id or "",
            "document_id": document_ids.get(sha),
            # AWS's AttachmentCount is the count in the account that was read: of an
            # AWS-managed policy, stored once for every account, it says nothing (and would
            # rewrite the policy whenever another account's download or file counted others).
            "attachment_count": 0 if policy.is_aws_managed else policy.attachment_count,
            "is_aws_managed": policy.is_aws_managed,
            "create_date": policy.create_date,
            "update_date": policy.update_date,
        }
        print_ = fingerprint(values)
        stored = existing.get(policy.arn)
        stays_gone = stored is not None and policy.is_aws_managed and not revives_withdrawn
        gone_at, last_seen_at = stored[1:] if stays_gone else (None, None)
        if stored is not None and stored[:2] == (print_, gone_at):
            continue
        rows.append(
            ManagedPolicy(
                arn=policy.arn,
                account=None if policy.is_aws_managed else account,
                fingerprint=print_,
                first_seen_at=now,
                changed_at=now,
                gone_at=gone_at,
                last_seen_at=last_seen_at,
                **values,
            )
        )
    if rows:
        ManagedPolicy.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["arn"],
            update_fields=[
                "fingerprint",
                "changed_at",
                "gone_at",
                "last_seen_at",
                *values.keys(),
            ],
            batch_size=BATCH_SIZE,
        )
    return len(rows)


def _attachment(principal_arn, principal_type, kind, ref, name, document) -> dict:
    sha = document_hash(document=document) if document is not None else ""
    return {
        "principal_arn": principal_arn,
        "principal_type": principal_type,
        "kind": kind,
        "policy_ref": ref,
        "policy_name": name,
        "document_sha256": sha,
    }


def store_authorization_details(
    *,
    account: AwsAccount,
    details: AuthorizationDetails,
    aws_managed_policies: tuple[ManagedPolicyDetail, ...],
    now: datetime,
    previous_seen_at: datetime | None,
) -> dict:
    """``aws_managed_policies``: those a file lists (a live collection stores AWS's own with
    store_aws_managed_policies). Stored once for every account, they are taken from a file
    only where the store lacks them or has an earlier version: an old export must not take
    every account back to last year's ReadOnlyAccess, nor bring back one AWS withdrew. This
    account is judged against the stored version too, as every other one is."""
    aws_listed, aws_older = _later_than_stored(policies=aws_managed_policies)
    # Documents of every managed policy in play: this account's, and AWS's (listed or stored).
    policies = [*details.policies, *aws_listed]
    managed_documents = {p.arn: p.document for p in policies}
    wanted_aws = {
        arn
        for principal in (*details.users, *details.groups, *details.roles)
        for arn in [a.arn for a in principal.attached_policies]
        + [getattr(principal, "permissions_boundary_arn", None) or ""]
        if arn and arn not in managed_documents
    }
    # Read fresh from an earlier collection: the document is already interned; keep its id so
    # that attachments point at it like at the documents fetched in this run.
    stored_document_ids: dict[str, int] = {}
    for arn, document, sha, document_id in ManagedPolicy.objects.filter(
        arn__in=wanted_aws
    ).values_list("arn", "document__document", "document__sha256", "document_id"):
        managed_documents[arn] = document
        if document_id is not None:
            stored_document_ids[sha] = document_id
    # Neither in the file nor stored (output made with `--filter` and no AWSManagedPolicy):
    # AdministratorAccess is still judged, as its document is a fixed fact; any other is named.
    fixed = {
        arn: document
        for arn in wanted_aws
        if managed_documents.get(arn) is None and (document := fixed_aws_document(arn=arn))
    }
    managed_documents.update(fixed)
    unknown = sorted(arn for arn in wanted_aws if managed_documents.get(arn) is None)

    attachments = []
    for kind_of, principals in (
        ("user", details.users),
        ("group", details.groups),
        ("role", details.roles),
    ):
        for principal in principals:
            for policy in principal.inline_policies:
                attachments.append(
                    _attachment(
                        principal.arn, kind_of, "inline", policy.name, policy.name, policy.document
                    )
                )
            for policy in principal.attached_policies:
                attachments.append(
                    _attachment(
                        principal.arn,
                        kind_of,
                        "managed",
                        policy.arn,
                        policy.name,
                        managed_documents.get(policy.arn),
                    )
                )
            boundary = getattr(principal, "permissions_boundary_arn", None)
            if boundary:
                attachments.append(
                    _attachment(
                        principal.arn,
                        kind_of,
                        "boundary",
                        boundary,
                        boundary.rsplit("/", 1)[-1],
                        managed_documents.get(boundary),
                    )
                )
            if kind_of == "role" and principal.assume_role_policy is not None:
                attachments.append(
                    _attachment(
                        principal.arn,
                        "role",
                        "trust",
                        "trust",
                        "Trust policy",
                        principal.assume_role_policy,
                    )
                )

    all_documents = [p.document for p in policies if p.document is not None]
    all_documents += [
        policy.document
        for principal in (*details.users, *details.groups, *details.roles)
        for policy in principal.inline_policies
    ]
    all_documents += [r.assume_role_policy for r in details.roles if r.assume_role_policy]
    all_documents += fixed.values()
    document_ids = {**stored_document_ids, **intern_documents(documents=all_documents, now=now)}
    for values in attachments:
        values["document_id"] = document_ids.get(values["document_sha256"])

    # An AWS-managed policy AWS withdrew stays withdrawn whatever the file holds.
    store_managed_policies(
        account=account,
        policies=policies,
        document_ids=document_ids,
        now=now,
        revives_withdrawn=False,
    )
    # A type a file does not list (made with `--filter`: see AuthorizationDetails.unlisted) is
    # left as stored: only what was listed can show that something was deleted.
    unlisted = details.unlisted
    if "policies" not in unlisted:
        # This account's own policies that AWS no longer lists were deleted.
        ManagedPolicy.objects.filter(account=account, is_aws_managed=False, gone_at=None).exclude(
            arn__in=[p.arn for p in details.policies]
        ).update(gone_at=now, last_seen_at=previous_seen_at, changed_at=now)
    synced = {}
    for kind_of, model, records in (
        ("users", IamUser, _user_records(details.users)),
        ("groups", IamGroup, _group_records(details.groups)),
        ("roles", IamRole, _role_records(details.roles)),
    ):
        if kind_of in unlisted:
            continue
        synced[kind_of] = sync_observed(
            model=model,
            account=account,
            records=records,
            now=now,
            previous_seen_at=previous_seen_at,
        )
        if kind_of == "users":
            refresh_user_activity(account=account)
    attachments += _carried_attachments(
        account=account,
        details=details,
        listed_policies=policies,
        document_ids=document_ids,
    )
    attached = sync_observed(
        model=PolicyAttachment,
        account=account,
        records=attachments,
        now=now,
        previous_seen_at=previous_seen_at,
    )
    listed = {
        "users": len(details.users),
        "groups": len(details.groups),
        "roles": len(details.roles),
        "policies": len(details.policies),
    }
    counts = {kind_of: n for kind_of, n in listed.items() if kind_of not in unlisted}
    counts["documents"] = len(document_ids)
    for kind_of in ("users", "roles", "groups"):
        if kind_of in synced:
            counts.update(synced[kind_of].as_dict(f"{kind_of}_"))
    counts.update(attached.as_dict("attachments_"))
    if kept := _kept_types(account=account, unlisted=unlisted):
        counts["not_in_file"] = kept
        # The stored roles were read then, not now: detection judges them as of then.
        read = "roles" in kept and CollectionRun.objects.roles_read_at(account_id=account.pk)
        if read:
            counts["roles_read_at"] = read.isoformat()
    if unknown:
        counts["no_document"] = unknown[:NO_DOCUMENT_LISTED]
        counts["no_document_total"] = len(unknown)
    if aws_older:
        counts["aws_managed_older"] = aws_older[:NO_DOCUMENT_LISTED]
        counts["aws_managed_older_total"] = len(aws_older)
    return counts


VERSION_ID = re.compile(r"v([0-9]{1,9})", re.ASCII)


def _later_than_stored(
    *, policies: tuple[ManagedPolicyDetail, ...]
) -> tuple[list[ManagedPolicyDetail], list[str]]:
    """The AWS-managed policies of a file that may be stored: those the store lacks, and
    those of a later default version than the stored one. Also the ARNs of those older than
    the stored ones (the import's message names them). One of the same version, or one whose
    age cannot be told, is neither: the stored copy stays. Withdrawn ones count as stored:
    one a download marked gone is compared with its last version like any other."""
    if not policies:
        return [], []
    stored = {
        arn: (version_id, update_date)
        for arn, version_id, update_date in ManagedPolicy.objects.filter(
            arn__in=[p.arn for p in policies], is_aws_managed=True
        ).values_list("arn", "default_version_id", "update_date")
    }
    later, older = [], []
    for policy in policies:
        if policy.arn not in stored:
            later.append(policy)
            continue
        listed = (policy.default_version_id or "", policy.update_date)
        if _is_later(*listed, *stored[policy.arn]):
            later.append(policy)
        elif _is_later(*stored[policy.arn], *listed):
            older.append(policy.arn)
    return later, sorted(older)


def _is_later(
    version_id: str, update_date: datetime | None, than_id: str, than_date: datetime | None
) -> bool:
    """By the default version's number (v12 is after v7: AWS numbers a policy's versions in
    order), else by UpdateDate; when neither tells, not later (the stored copy stays)."""
    number, than = VERSION_ID.fullmatch(version_id), VERSION_ID.fullmatch(than_id)
    if number and than:
        return int(number[1]) > int(than[1])
    if update_date is not None and than_date is not None:
        return update_date > than_date
    return False


# Policies named in a run's counts whose document is unknown (the rest are counted).
NO_DOCUMENT_LISTED = 5
# AWS-managed policies whose document is a fixed fact, by the part of the ARN after the
# partition: AdministratorAccess has allowed every action on every resource, and only that.
FIXED_AWS_MANAGED_DOCUMENTS = {
    ":iam::aws:policy/AdministratorAccess": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    },
}


def fixed_aws_document(*, arn: str) -> dict | None:
    """The document of an AWS-managed policy that never changes, in any partition."""
    partition, _, rest = arn.partition(":iam::")
    if not partition.startswith("arn:aws"):
        return None
    return FIXED_AWS_MANAGED_DOCUMENTS.get(f":iam::{rest}")


def _kept_types(*, account: AwsAccount, unlisted: frozenset[str]) -> list[str]:
    """The unlisted types of which something is stored, and so was kept: the import's message
    names them (an account with no groups is no news)."""
    stored = {
        "users": IamUser.objects.filter(account=account, gone_at=None),
        "groups": IamGroup.objects.filter(account=account, gone_at=None),
        "roles": IamRole.objects.filter(account=account, gone_at=None),
        "policies": ManagedPolicy.objects.filter(
            account=account, is_aws_managed=False, gone_at=None
        ),
    }
    return [kind_of for kind_of, rows in stored.items() if kind_of in unlisted and rows.exists()]


def _carried_attachments(
    *,
    account: AwsAccount,
    details: AuthorizationDetails,
    listed_policies: list[ManagedPolicyDetail],
    document_ids: dict[str, int],
) -> list[dict]:
    """The stored attachments of the principal types the file does not list (`--filter`),
    carried over as they are, but for a managed policy or boundary the file lists, this
    account's or AWS's: that one takes its new default version, as a full collection would
    show it."""
    types = [t for t in ("user", "group", "role") if f"{t}s" in details.unlisted]
    if not types:
        return []
    relisted = {p.arn: p for p in listed_policies if p.document is not None}
    carried = []
    for row in PolicyAttachment.objects.filter(
        account=account, gone_at=None, principal_type__in=types
    ).values(
        "principal_arn",
        "principal_type",
        "kind",
        "policy_ref",
        "policy_name",
        "document_sha256",
        "document_id",
    ):
        policy = relisted.get(row["policy_ref"]) if row["kind"] in ("managed", "boundary") else None
        if policy is not None:
            row = _attachment(
                row["principal_arn"],
                row["principal_type"],
                row["kind"],
                row["policy_ref"],
                row["policy_name"],
                policy.document,
            )
            row["document_id"] = document_ids.get(row["document_sha256"])
        carried.append(row)
    return carried


def _user_records(users: tuple[UserDetail, ...]) -> list[dict]:
    return [
        {
            "arn": u.arn,
            "name": u.name,
            "user_id": u.user_id,
            "path": u.path,
            "create_date": u.create_date,
            "groups": sorted(u.groups),
            "permissions_boundary_arn": u.permissions_boundary_arn or "",
            "tags": u.tags,
        }
        for u in users
    ]


def _group_records(groups: tuple[GroupDetail, ...]) -> list[dict]:
    return [
        {
            "arn": g.arn,
            "name": g.name,
            "group_id": g.group_id,
            "path": g.path,
            "create_date": g.create_date,
        }
        for g in groups
    ]


def _role_records(roles: tuple[RoleDetail, ...]) -> list[dict]:
    return [
        {
            "arn": r.arn,
            "name": r.name,
            "role_id": r.role_id,
            "path": r.path,
            "create_date": r.create_date,
            "description": r.description or "",
            "trust_policy": r.assume_role_policy,
            "permissions_boundary_arn": r.permissions_boundary_arn or "",
            "tags": r.tags,
            "last_used_at": r.last_used_at,
            "last_used_region": r.last_used_region or "",
            "instance_profile_arns": list(r.instance_profile_arns),
            "max_session_duration": r.max_session_duration,
            "is_service_linked": r.is_service_linked,
            "is_sso": r.is_sso,
        }
        for r in roles
    ]


# --- Service last accessed ---------------------------------------------------------------------


UNREAD_LISTED = 500


def store_service_last_accessed(
    *,
    account: AwsAccount,
    results: tuple[PrincipalServiceAccess, ...],
    now: datetime,
    previous_seen_at: datetime | None,
    every_principal: bool = True,
) -> dict:
    """``every_principal``: the results cover every principal of the account (a collection),
    so rows of principals not among them go; an import of one principal leaves the others."""
    completed = [r for r in results if r.error is None and r.job_status == "COMPLETED"]
    records = [
        {
            "principal_arn": result.principal_arn,
            "service_namespace": service.service_namespace,
            "service_name": service.service_name,
            "last_authenticated_at": service.last_authenticated_at,
            "last_authenticated_entity": service.last_authenticated_entity or "",
            "last_authenticated_region": service.last_authenticated_region or "",
            "total_authenticated_entities": service.total_authenticated_entities,
            "actions": [
                {
                    "action": action.action_name,
                    "last_accessed_at": action.last_accessed_at.isoformat()
                    if action.last_accessed_at
                    else None,
                    "region": action.region,
                    "entity": action.entity,
                }
                for action in service.actions
            ],
        }
        for result in completed
        for service in result.services
    ]
    # Only principals read this time are replaced: a failed job keeps its previous data.
    counts = sync_observed(
        model=ServiceLastAccessed,
        account=account,
        records=records,
        now=now,
        previous_seen_at=previous_seen_at,
        scope={"principal_arn__in": [r.principal_arn for r in completed]},
    )
    # Principals that no longer exist at all: their rows go too.
    asked = [r.principal_arn for r in results]
    if every_principal:
        counts.gone += (
            ServiceLastAccessed.objects.filter(account=account, gone_at=None)
            .exclude(principal_arn__in=asked)
            .update(gone_at=now, last_seen_at=previous_seen_at, changed_at=now)
        )
    # Whose data this run read (CollectionRun.objects.service_access_read_at): a principal
    # whose job failed keeps older data, which must not be judged as of today.
    read = {r.principal_arn for r in completed}
    unread = sorted({r.principal_arn for r in results} - read)
    if every_principal:
        whose = {"unread": unread[:UNREAD_LISTED]} if unread else {}
        if len(unread) > UNREAD_LISTED:
            whose["unread_more"] = len(unread) - UNREAD_LISTED
    else:
        whose = {"read": sorted(read)}
    return {
        "principals": len(results),
        "principals_read": len(completed),
        "principals_failed": len(results) - len(completed),
        "services": len(records),
        **counts.as_dict(),
        **whose,
    }


# --- Access Analyzer ---------------------------------------------------------------------------


def store_access_analyzer(
    *,
    account: AwsAccount,
    snapshot: AccessAnalyzerSnapshot,
    regions: list[str] | None,
    now: datetime,
    previous_seen_at: datetime | None,
) -> dict:
    """Store analyzers and findings of the regions read (None: a file, with no region).

    A stored finding absent from what was read is marked gone (resolved) only where the read
    speaks for it (`_findings_read`)."""
    region_scope = {"region__in": regions} if regions is not None else {"region": ""}
    analyzers = None
    if regions is not None:  # a file names no analyzers: keep the ones collected live
        analyzers = sync_observed(
            model=Analyzer,
            account=account,
            records=[
                {
                    "arn": a.arn,
                    "name": a.name,
                    "type": a.type,
                    "status": a.status,
                    "region": a.region,
                }
                for a in snapshot.analyzers
            ],
            now=now,
            previous_seen_at=previous_seen_at,
            scope=region_scope,
        )

    history = dict(
        AccessAnalyzerFinding.objects.filter(
            account=account, finding_id__in=[f.id for f in snapshot.findings]
        ).values_list("finding_id", "status_history")
    )
    records = []
    for finding in snapshot.findings:
        statuses = list(history.get(finding.id) or [])
        if not statuses or statuses[-1]["status"] != finding.status:
            statuses.append({"status": finding.status, "seen_at": now.isoformat()})
        records.append(
            {
                "finding_id": finding.id,
                "analyzer_arn": finding.analyzer_arn or "",
                "region": finding.region or "",
                "finding_type": finding.finding_type,
                "status": finding.status,
                "resource": finding.resource or "",
                "resource_type": finding.resource_type,
                "resource_owner_account": finding.resource_owner_account,
                "aws_created_at": finding.created_at,
                "aws_updated_at": finding.updated_at,
                "analyzed_at": finding.analyzed_at,
                "error": finding.error or "",
                "details": list(finding.details),
                "status_history": statuses,
            }
        )
    findings = sync_observed(
        model=AccessAnalyzerFinding,
        account=account,
        records=records,
        now=now,
        previous_seen_at=previous_seen_at,
        scope=_findings_read(account=account, snapshot=snapshot, regions=regions),
    )
    counts = {
        "analyzers": len(snapshot.analyzers),
        "findings": len(snapshot.findings),
        **findings.as_dict(),
    }
    if analyzers is not None:
        counts.update(analyzers.as_dict("analyzers_"))
    if snapshot.region_errors:
        counts["region_errors"] = len(snapshot.region_errors)
    return counts


def _findings_read(
    *, account: AwsAccount, snapshot: AccessAnalyzerSnapshot, regions: list[str] | None
) -> Q:
    """The stored findings whose absence from `snapshot` means AWS no longer reports them.

    Live: those of each analyzer whose findings were listed. An analyzer CREATING or FAILED
    lists nothing: its findings are unknown, not resolved, and stay as they were. One no
    longer listed (deleted) leaves its findings unknown too, until an analyzer of the very
    same type is read in its region: that one reports, under ids of its own, what is still
    there. (An account's analyzer does not see what an organization's saw in its members.)

    A file is one analyzer's listing (`list-findings-v2 --analyzer-arn`), and names no analyzer:
    it speaks for the stored file findings of the kinds it holds (external, internal or unused
    access), so an unused-access analyzer's file leaves the external-access file's findings be.
    """
    if regions is None:
        kinds = {KIND_OF_FINDING_TYPE.get(f.finding_type) for f in snapshot.findings}
        types = [t for kind in sorted(kinds - {None}) for t in FINDING_TYPES_OF_KIND[kind]]
        return Q(region="", finding_type__in=types)
    read = [a for a in snapshot.analyzers if a.status not in ANALYZER_STATUSES_WITHOUT_FINDINGS]
    read_types = {(a.region, a.type) for a in read}
    replaced = [
        (arn, analyzer_type)
        for arn, region, analyzer_type in Analyzer.objects.filter(
            account=account, region__in=regions
        )
        .exclude(arn__in=[a.arn for a in snapshot.analyzers])
        .values_list("arn", "region", "type")
        if (region, analyzer_type) in read_types
    ]
    speaking = [(a.arn, a.type) for a in read] + replaced
    # An account's analyzer (ACCOUNT, ACCOUNT_UNUSED_ACCESS, ...) sees this account's own
    # resources only: it speaks for no finding about another account's, even under the ARN of
    # an organization analyzer it replaced (an analyzer re-created with another type keeps its
    # ARN).
    everyone = [arn for arn, analyzer_type in speaking if analyzer_type.startswith("ORGANIZATION")]
    own = [arn for arn, analyzer_type in speaking if not analyzer_type.startswith("ORGANIZATION")]
    return Q(region__in=regions) & (
        Q(analyzer_arn__in=everyone)
        | Q(analyzer_arn__in=own, resource_owner_account=account.account_id)
    )
