"""The demo: a simulated AWS Organization, collected with the real collectors.

Everything runs inside moto's in-process AWS (no network, no AWS account). What moto does not
simulate comes in through the same storage paths a real deployment uses: Access Analyzer
findings through the file import (generated in the exact GetFindingV2 shape), the root user's
row through an imported credential report, and service last-accessed data (moto has no such
job) stored as the collector would store it.
"""

import json
import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from findings.aws.records import ActionLastAccessed, PrincipalServiceAccess, ServiceLastAccessed
from findings.aws.session import client
from findings.collection.collectors import account_session, detect_after, run_collection
from findings.collection.imports import import_file
from findings.collection.registry import discover_organization_accounts, update_account
from findings.collection.runs import claim_run, finish_run, start_run
from findings.collection.store import store_service_last_accessed
from findings.demo.analyzer_findings import access_analyzer_findings_document
from findings.demo.organization import build_demo_organization
from findings.models import (
    AwsAccount,
    CollectionRun,
    CredentialReportEntry,
    IamGroup,
    IamRole,
    IamUser,
    PolicyAttachment,
    ReviewCycle,
)
from findings.policy import actions
from findings.policy.documents import granted_services
from findings.policy.grants import document_actions
from findings.reviews.evidence import release_population
from findings.reviews.services import create_cycle, period_of, population_for

Say = Callable[[str], None]
COMMON_SERVICES = ["s3", "ec2", "dynamodb", "sqs", "sns", "lambda", "logs", "kms", "iam", "sts"]


def root_row(account_id: str, now: datetime) -> str:
    """A credential-report root row with an active, recently used access key and no MFA."""
    day = timedelta(days=1)
    created = (now - 900 * day).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    used = (now - 3 * day).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    rotated = (now - 700 * day).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return ",".join(
        [
            "<root_account>",
            f"arn:aws:iam::{account_id}:root",
            created,
            "not_supported",
            used,
            "not_supported",
            "not_supported",
            "false",
            "true",
            rotated,
            used,
            "us-east-1",
            "s3",
            "false",
            "N/A",
            "N/A",
            "N/A",
            "N/A",
            "false",
            "N/A",
            "false",
            "N/A",
        ]
    )


def simulated_service_access(account: AwsAccount, *, now: datetime, rng: random.Random):
    """Service last-accessed results shaped as the collector returns them."""

    documents: dict[str, list[dict]] = {}
    for arn, document in PolicyAttachment.objects.filter(
        account=account, gone_at=None, kind__in=["inline", "managed"], document__isnull=False
    ).values_list("principal_arn", "document__document"):
        documents.setdefault(arn, []).append(document)
    group_arns = dict(
        IamGroup.objects.filter(account=account, gone_at=None).values_list("name", "arn")
    )
    principals = [
        (role.arn, role.last_used_at, documents.get(role.arn, []))
        for role in IamRole.objects.filter(account=account, gone_at=None, is_service_linked=False)
    ]
    # Users too (their own policies and their groups'), last active when their credential
    # report says: with roles only, no user was ever right-sized in the demo.
    activity = _user_activity(account)
    for user in IamUser.objects.filter(account=account, gone_at=None):
        own = documents.get(user.arn, [])
        via_groups = [
            document
            for name in user.groups or []
            for document in documents.get(group_arns.get(name, ""), [])
        ]
        principals.append((user.arn, activity.get(user.arn), own + via_groups))
    results = []
    for arn, last_used_at, granted in principals:
        services = granted_services(documents=granted)
        only_by_wildcard: set[str] = set()
        if "*" in services:
            # As AWS does for `Action: *`: a row for every service it tracks, a few of them used.
            named = services - {"*"}
            used = set(rng.sample(COMMON_SERVICES, 6))
            only_by_wildcard = set(actions.services()) - named - used
            services = named | used | only_by_wildcard
        entries = []
        for namespace in sorted(services):
            # Never after the role's own last use (RoleLastUsed): a service used since would
            # contradict it on the same page.
            if namespace in only_by_wildcard:
                last = None
            elif last_used_at and rng.random() < 0.6:
                last = last_used_at - timedelta(days=rng.randint(0, 20))
            elif last_used_at and rng.random() < 0.5:
                last = last_used_at - timedelta(days=rng.randint(120, 380))
            else:
                last = None
            entries.append(
                ServiceLastAccessed(
                    service_name=namespace.upper(),
                    service_namespace=namespace,
                    last_authenticated_at=last,
                    last_authenticated_entity=arn if last else None,
                    last_authenticated_region="us-east-1" if last else None,
                    total_authenticated_entities=1 if last else 0,
                    actions=_tracked_actions(namespace, granted, last=last, rng=rng),
                )
            )
        results.append(
            PrincipalServiceAccess(
                principal_arn=arn, job_status="COMPLETED", services=tuple(entries), error=None
            )
        )
    return tuple(results)


def _user_activity(account: AwsAccount) -> dict[str, datetime]:
    """Each user's last use of a password or key, from the credential report: never a service
    used after the user last signed in or used a key."""
    activity = {}
    for entry in CredentialReportEntry.objects.filter(account=account, gone_at=None):
        moments = [
            m
            for m in (
                entry.password_last_used,
                entry.access_key_1_last_used_date,
                entry.access_key_2_last_used_date,
            )
            if m is not None
        ]
        if moments:
            activity[entry.arn] = max(moments)
    return activity


# Services AWS tracks at action level (a few of them), so that suggestions show action-level cuts.
ACTION_LEVEL_SERVICES = ("s3", "iam", "lambda")


def _tracked_actions(
    namespace: str, documents: list[dict], *, last: datetime | None, rng: random.Random
) -> tuple[ActionLastAccessed, ...]:
    if namespace not in ACTION_LEVEL_SERVICES:
        return ()
    granted = sorted(
        a
        for document in documents
        for a in document_actions(document=document)
        if a.lower().startswith(f"{namespace}:")
    )[:40]
    return tuple(
        ActionLastAccessed(
            action_name=action.partition(":")[2],
            last_accessed_at=last if last and index % 3 == 0 else None,
            region="us-east-1" if last and index % 3 == 0 else None,
            entity=None,
        )
        for index, action in enumerate(rng.sample(granted, len(granted)))
    )


def store_simulated_service_access(account: AwsAccount, *, now: datetime, seed: int) -> None:

    run = claim_run(
        account=account,
        source="service-last-accessed",
        trigger=CollectionRun.Trigger.IMPORT,
        detail="simulated (moto has no service last-accessed jobs)",
    )
    start_run(run=run)
    results = simulated_service_access(account, now=now, rng=random.Random(seed))
    with transaction.atomic():
        counts = store_service_last_accessed(
            account=account, results=results, now=now, previous_seen_at=None
        )
    finish_run(run=run, succeeded=True, counts=counts)
    detect_after(run=run)


def load_demo(
    *, seed: int = 7, scale: float = 1.0, say: Say = print, in_process: bool = True
) -> list[AwsAccount]:
    """Build the organization in moto, discover it, collect it, and open review cycles.

    in_process: simulate AWS inside this command only (moto's mock). Otherwise the caller runs
    moto's server in this process and points AWS_ENDPOINT_URL at it, so the simulation outlives
    the load and "collect now" in the web app reaches it.
    """
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from contextlib import nullcontext

    from moto import mock_aws

    now = timezone.now()
    with mock_aws() if in_process else nullcontext():
        say("Building a simulated AWS Organization (moto, in-process)...")
        org = build_demo_organization(seed=seed, now=now, scale=scale)
        say(f"  {len(org.accounts)} accounts; discovering them through AWS Organizations")
        discover_organization_accounts(
            role_arn=org.management_role_arn,
            member_role_name=org.member_role_name,
            external_id=org.external_id,
            regions=list(org.regions),
        )
        accounts = list(
            AwsAccount.objects.filter(account_id__in=[a.account_id for a in org.accounts])
        )
        for account in accounts:
            if account.account_id == org.management_account_id and account.name == "master":
                update_account(account=account, name="Acme Management")
        for account in accounts:
            for source in ("authorization-details", "credential-report"):
                run = run_collection(
                    run=claim_run(account=account, source=source, trigger="manual")
                )
                say(f"  {account.name:<20} {source:<22} {run.status} {run.error[:80]}")
        findings = access_analyzer_findings_document(organization=org, seed=seed, now=now)
        for account in accounts:
            data = json.dumps(findings.get(account.account_id, [])).encode()
            run = import_file(
                account=account,
                kind="access-analyzer-findings",
                data=data,
                filename="get-finding-v2 (simulated).json",
            )
            say(f"  {account.name:<20} access-analyzer        {run.status} (imported)")
        # moto has no root user: one account gets a credential report with a risky root row.
        management = next(a for a in accounts if a.account_id == org.management_account_id)

        iam = client(account_session(account=management, purpose="demo"), "iam")
        iam.generate_credential_report()
        content = iam.get_credential_report()["Content"].decode()
        content = content.rstrip("\n") + "\n" + root_row(management.account_id, now) + "\n"
        import_file(
            account=management,
            kind="credential-report",
            data=content.encode(),
            filename="credential-report (with root row).csv",
        )
    for account in accounts:
        store_simulated_service_access(account, now=now, seed=seed)
    say("  service last-accessed stored (simulated)")
    open_demo_cycles(accounts, say=say)
    return accounts


def open_demo_cycles(accounts: list[AwsAccount], *, say: Say) -> None:

    today = timezone.localdate()
    for kind in (ReviewCycle.Kind.MONTHLY, ReviewCycle.Kind.QUARTERLY):
        period = period_of(kind=kind, day=today)
        if ReviewCycle.objects.filter(kind=kind, period=period).exists():
            continue
        specs = population_for(kind=kind, accounts=accounts)
        label = (
            "Monthly external access review" if kind == "monthly" else "Quarterly credential review"
        )
        cycle = create_cycle(
            kind=kind,
            title=f"{label} {period}",
            specs=specs,
            accounts=None,
            opened_by=None,
            period=period,
        )
        say(f"  opened {cycle.title}: {cycle.population_count} items")
    if not ReviewCycle.objects.filter(kind=ReviewCycle.Kind.RELEASE).exists():
        role_arns = list(
            IamRole.objects.filter(
                account__in=accounts, tags__app="checkout", gone_at=None
            ).values_list("arn", flat=True)[:6]
        )
        if role_arns:
            specs, unknown = release_population(role_arns=role_arns)
            cycle = create_cycle(
                kind=ReviewCycle.Kind.RELEASE,
                title="Release checkout 2.14.0",
                specs=specs,
                accounts=sorted({spec.account for spec in specs}, key=lambda a: a.name),
                opened_by=None,
                application="checkout",
                version="2.14.0",
                notes="Adds refunds through the payments queue.",
                unknown_role_arns=unknown,
            )
            say(f"  opened {cycle.title}: {cycle.population_count} roles")
