"""Review cycles: opening, deciding items, follow-ups, segregation of duties, sign-off."""

import threading
from datetime import date, datetime, time, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import LinkedIdentity, User
from accounts.people import deactivate_person, revoke_role
from accounts.permissions import Role
from findings.detection.detect import detect_account
from findings.models import (
    AccessAnalyzerFinding,
    AuditEntry,
    CredentialReportEntry,
    CycleTally,
    Decision,
    Exclusion,
    Finding,
    FindingEvent,
    ReviewCycle,
    ReviewItem,
    Source,
)
from findings.reviews.evidence import ItemSpec, population_hash
from findings.reviews.releases import open_release_cycle, take_in_collected_roles
from findings.reviews.services import (
    Conflict,
    DecisionInput,
    Forbidden,
    Invalid,
    assign_items,
    bulk_decide,
    create_cycle,
    decide_item,
    expire_risk_acceptances,
    mark_no_response,
    one_year_after,
    open_cycle,
    open_cycle_by_hand,
    open_period_cycle,
    open_scheduled_cycles,
    sign_off_cycle,
    verify_remediations,
)
from findings.reviews.substance import substance_hash
from findings.reviews.summary import sign_off_summary
from tests.at_once import at_once, waiting_for_locks
from tests.conftest import make_person, solo_worker
from tests.findings.reviews.test_evidence import (
    aa_row,
    credential_entry,
    external_access,
    iam_role,
    keep,
    make_account,
    make_finding,
    succeeded_run,
    user_arn,
)

pytestmark = pytest.mark.django_db

ATTESTATION = "I reviewed the full population."


@pytest.fixture
def production(db):
    return make_account()


@pytest.fixture
def quarterly(production, administrator):
    """alice (password, no MFA: a finding), bob and carol (active keys, clean)."""
    credential_entry(production, "alice", password=True)
    credential_entry(production, "bob", key=True)
    credential_entry(production, "carol", key=True)
    make_finding(production, "console-user-without-mfa", user_arn(production, "alice"))
    return open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])


def item_of(cycle, user: str) -> ReviewItem:
    return cycle.items.get(subject_arn__endswith=f":user/{user}")


def decide(item, actor, decision=None, expected=None) -> Decision:
    return decide_item(
        item=item, actor=actor, decision=decision or keep(), expected_latest_id=expected
    )


def decide_all(cycle, actor) -> None:
    for item in cycle.items.all():
        decide(item, actor)


def actions() -> list[str]:
    return list(AuditEntry.objects.values_list("action", flat=True))


def at_noon(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(12)))


def detected_alice_without_mfa(production) -> Finding:
    """Real detection over a credential report: alice has a password and no MFA."""
    credential_entry(production, "alice", password=True)
    succeeded_run(production, Source.CREDENTIAL_REPORT)
    detect_account(account=production)
    return Finding.objects.get(check_id="console-user-without-mfa")


# --- Opening cycles ---------------------------------------------------------------------------


def test_the_first_of_october_opens_the_monthly_and_quarterly_cycles_once(production):
    external_access(production, "shared-reports")
    credential_entry(production, "alice", password=True)

    opened = open_scheduled_cycles(today=date(2026, 10, 1))

    assert sorted((c.kind, c.period) for c in opened) == [
        ("monthly", "2026-10"),
        ("quarterly", "2026-Q4"),
    ]
    monthly = ReviewCycle.objects.get(kind="monthly")
    quarterly = ReviewCycle.objects.get(kind="quarterly")
    assert monthly.title == "Monthly external access review 2026-10"
    assert quarterly.title == "Quarterly credential review 2026-Q4"
    assert monthly.due_on == date(2026, 10, 15)
    assert quarterly.due_on == date(2026, 10, 31)
    assert monthly.opened_by is None
    assert monthly.items.count() == 1 and quarterly.items.count() == 1

    assert open_scheduled_cycles(today=date(2026, 10, 1)) == []
    assert open_scheduled_cycles(today=date(2026, 10, 20)) == []
    assert ReviewCycle.objects.count() == 2


def test_a_november_date_opens_only_the_monthly_cycle_once_the_quarter_is_open(production):
    credential_entry(production, "alice", password=True)
    open_scheduled_cycles(today=date(2026, 10, 1))

    opened = open_scheduled_cycles(today=date(2026, 11, 1))

    assert [(c.kind, c.period) for c in opened] == [("monthly", "2026-11")]
    assert open_scheduled_cycles(today=date(2026, 11, 2)) == []


def test_a_quarterly_cycle_missed_in_the_first_month_is_opened_later_in_the_quarter(production):
    credential_entry(production, "alice", password=True)
    # Workers down (or deployed) from 1 October to 2 November: the monthly cycle catches up
    # on any day of its month, the quarterly one on any day of its quarter.
    opened = open_scheduled_cycles(today=date(2026, 11, 2))

    assert sorted(c.period for c in opened) == ["2026-11", "2026-Q4"]
    quarterly = ReviewCycle.objects.get(kind="quarterly")
    assert quarterly.due_on == date(2026, 12, 2)  # the full period from when it opened
    assert quarterly.items.count() == 1
    # Once a period: the hourly runs after it, and the rest of the quarter, open no other.
    assert open_scheduled_cycles(today=date(2026, 11, 2)) == []
    assert open_scheduled_cycles(today=date(2026, 12, 31)) == [
        ReviewCycle.objects.get(period="2026-12")
    ]
    assert ReviewCycle.objects.filter(kind="quarterly").count() == 1


def test_the_schedule_opens_no_second_cycle_beside_one_opened_by_hand_for_every_account(
    production, administrator
):
    """Each item had been put before reviewers twice: the hand-opened cycle and the period's."""
    credential_entry(production, "alice", password=True)
    by_hand = open_cycle_by_hand(kind="quarterly", opened_by=administrator, accounts=None)

    opened = open_scheduled_cycles(today=timezone.localdate())

    assert [c.kind for c in opened] == ["monthly"]
    assert open_period_cycle(kind="quarterly") == (by_hand, False)
    assert ReviewCycle.objects.filter(kind="quarterly").count() == 1


def test_a_cycle_opened_by_hand_for_some_accounts_leaves_the_others_to_the_period(
    production, administrator
):
    credential_entry(production, "alice", password=True)
    open_cycle_by_hand(kind="quarterly", opened_by=administrator, accounts=[production])

    opened = open_scheduled_cycles(today=timezone.localdate())

    assert sorted(c.kind for c in opened) == ["monthly", "quarterly"]


def test_cycles_are_due_after_the_days_of_their_kind(production, administrator, reviewer):
    today = timezone.localdate()
    monthly = open_cycle(kind="monthly", opened_by=administrator)
    quarterly = open_cycle(kind="quarterly", opened_by=administrator)
    release, _, _ = open_release_cycle(
        application="shop",
        version="1",
        role_arns=[iam_role(production).arn],
        notes="",
        opened_by=reviewer,
    )

    assert monthly.due_on == today + timedelta(days=14)
    assert quarterly.due_on == today + timedelta(days=30)
    assert release.due_on == today + timedelta(days=7)


def test_due_days_follow_the_settings(settings, administrator):
    settings.REVIEW_MONTHLY_DUE_DAYS = 3

    cycle = open_cycle(kind="monthly", opened_by=administrator)

    assert cycle.due_on == timezone.localdate() + timedelta(days=3)


def test_only_administrators_open_cycles_by_hand(reviewer, approver):
    for person in (reviewer, approver):
        with pytest.raises(Forbidden):
            open_cycle(kind="monthly", opened_by=person)
    assert not ReviewCycle.objects.exists()


def test_a_release_needs_an_application_a_version_and_roles(reviewer):
    with pytest.raises(Invalid) as refused:
        open_release_cycle(
            application=" ", version="", role_arns=[" "], notes="", opened_by=reviewer
        )

    assert set(refused.value.errors) == {"application", "version", "role_arns"}


def test_auditors_and_approvers_do_not_register_releases(production, auditor, approver):
    role = iam_role(production)
    for person in (auditor, approver):
        with pytest.raises(Forbidden):
            open_release_cycle(
                application="shop", version="1", role_arns=[role.arn], notes="", opened_by=person
            )


def test_the_scheduled_cycles_task_runs_and_is_idempotent(db):
    from findings.reviews.tasks import open_scheduled_cycles as task

    # This month's cycle and this quarter's, whatever the month.
    assert task.delay().get() == 2
    assert task.delay().get() == 0
    assert ReviewCycle.objects.count() == 2


# --- Decisions and their follow-ups -----------------------------------------------------------


def test_keeping_access_needs_a_justification(quarterly, reviewer):
    item = item_of(quarterly, "alice")

    with pytest.raises(Invalid) as refused:
        decide(item, reviewer, DecisionInput(kind="keep", justification="  "))

    assert "justification" in refused.value.errors
    assert not Decision.objects.exists()


def test_an_unknown_decision_kind_is_invalid(quarterly, reviewer):
    with pytest.raises(Invalid) as refused:
        decide(item_of(quarterly, "alice"), reviewer, DecisionInput(kind="ignore"))

    assert "decision" in refused.value.errors


def test_keeping_access_with_a_reason_decides_the_item(quarterly, reviewer):
    item = item_of(quarterly, "alice")

    made = decide(item, reviewer, keep("  Break-glass user, MFA on the hardware token  "))

    item.refresh_from_db()
    assert item.is_decided
    assert item.latest_decision == made
    assert made.justification == "Break-glass user, MFA on the hardware token"
    assert made.decided_by == reviewer
    assert item.remediation == ""


def test_remediation_is_verified_when_fresh_detection_shows_the_problem_gone(
    production, administrator, reviewer
):
    finding = detected_alice_without_mfa(production)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    item = cycle.items.get()
    assert list(item.findings.all()) == [finding]

    decide(item, reviewer, DecisionInput(kind="remediate"))
    item.refresh_from_db()
    assert item.remediation == ReviewItem.Remediation.PENDING
    assert item.is_decided
    assert verify_remediations(account=production) == 0

    CredentialReportEntry.objects.filter(user="alice").update(mfa_active=True)
    fresh = succeeded_run(production, Source.CREDENTIAL_REPORT, at=timezone.now())
    detect_account(account=production)
    finding.refresh_from_db()
    assert finding.status == Finding.Status.RESOLVED
    assert finding.resolved_by_run == fresh

    assert verify_remediations(account=production) == 1
    item.refresh_from_db()
    assert item.remediation == ReviewItem.Remediation.VERIFIED
    assert item.verified_by_run == fresh
    assert item.verified_at is not None
    assert "remediation.verified" in actions()
    assert verify_remediations(account=production) == 0


def test_remediation_of_a_finding_resolved_by_a_run_is_verified_with_that_run(
    quarterly, production, reviewer
):
    item = item_of(quarterly, "alice")
    decide(item, reviewer, DecisionInput(kind="remediate"))
    run = succeeded_run(production, Source.CREDENTIAL_REPORT)

    Finding.objects.filter(check_id="console-user-without-mfa").update(
        status=Finding.Status.RESOLVED, resolved_at=timezone.now(), resolved_by_run=run
    )

    assert verify_remediations(account=production) == 1
    item.refresh_from_db()
    assert (item.remediation, item.verified_by_run) == ("verified", run)


def test_a_finding_closed_because_its_region_is_no_longer_monitored_verifies_nothing(
    quarterly, production, reviewer
):
    """Nobody looks at the region any more: that is no evidence that anything was fixed."""
    item = item_of(quarterly, "alice")
    decide(item, reviewer, DecisionInput(kind="remediate"))

    Finding.objects.filter(check_id="console-user-without-mfa").update(
        status=Finding.Status.RESOLVED,
        resolved_at=timezone.now(),
        resolution=Finding.Resolution.REGION_NOT_MONITORED,
    )

    assert verify_remediations(account=production) == 0
    item.refresh_from_db()
    assert item.remediation == ReviewItem.Remediation.PENDING


def test_a_remediation_closed_as_not_monitored_verifies_once_its_region_shows_it_fixed(
    production, administrator, reviewer
):
    """Closed while its region was off the account's regions, the finding stayed so once the
    region was read again and AWS had resolved it: its remediation could never verify."""
    row = aa_row(production, "f-1", "arn:aws:s3:::shared-reports")
    succeeded_run(production, Source.ACCESS_ANALYZER)
    detect_account(account=production)
    cycle = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])
    item = cycle.items.get(subject_arn="arn:aws:s3:::shared-reports")
    decide(item, reviewer, DecisionInput(kind="remediate"))
    production.regions = ["eu-west-1"]
    production.save()
    detect_account(account=production)
    assert verify_remediations(account=production) == 0

    production.regions = ["us-east-1"]
    production.save()
    AccessAnalyzerFinding.objects.filter(pk=row.pk).update(status="RESOLVED")
    fixed_by = succeeded_run(production, Source.ACCESS_ANALYZER)
    detect_account(account=production)

    assert verify_remediations(account=production) == 1
    item.refresh_from_db()
    assert (item.remediation, item.verified_by_run) == ("verified", fixed_by)


def test_two_checks_at_once_verify_a_remediation_once(committed_db, administrator, reviewer):
    """A member's own collection and an organization analyzer's can check its items at the
    same moment: one verification, one audit entry."""
    account = make_account()
    credential_entry(account, "bob", password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    item = cycle.items.get()
    decide(item, reviewer, DecisionInput(kind="remediate"))
    CredentialReportEntry.objects.filter(user="bob").update(gone_at=timezone.now())

    verified = at_once(*[lambda: verify_remediations(account=account)] * 2)

    assert sorted(verified) == [0, 1]
    assert actions().count("remediation.verified") == 1


def test_remediating_a_clean_user_is_verified_once_the_user_is_gone(
    quarterly, production, reviewer
):
    item = item_of(quarterly, "bob")
    decide(item, reviewer, DecisionInput(kind="remediate"))
    assert verify_remediations(account=production) == 0

    CredentialReportEntry.objects.filter(user="bob").update(gone_at=timezone.now())

    assert verify_remediations(account=production) == 1
    item.refresh_from_db()
    assert item.remediation == "verified"
    assert item.verified_by_run is None


def test_accepted_risk_needs_an_expiry_within_a_year(quarterly, reviewer):
    item = item_of(quarterly, "alice")
    today = timezone.localdate()

    a_year = one_year_after(day=today)
    for expires_on in (None, today, today - timedelta(days=1), a_year + timedelta(days=1)):
        with pytest.raises(Invalid) as refused:
            decide(
                item,
                reviewer,
                DecisionInput("accept_risk", "Vendor fix due next quarter", expires_on),
            )
        assert "expires_on" in refused.value.errors
    with pytest.raises(Invalid):
        decide(item, reviewer, DecisionInput("accept_risk", "", today + timedelta(days=30)))

    made = decide(
        item, reviewer, DecisionInput("accept_risk", "Vendor fix due in the spring", a_year)
    )
    assert made.expires_on == a_year


@pytest.mark.parametrize(
    ("today", "last_day"),
    [
        (date(2027, 3, 1), date(2028, 3, 1)),  # 29 February 2028 inside: 366 days
        (date(2026, 11, 30), date(2027, 11, 30)),
        (date(2028, 2, 29), date(2029, 2, 28)),
    ],
)
def test_one_year_is_the_same_date_next_year_whatever_february_holds(reviewer, today, last_day):
    DecisionInput("accept_risk", "Vendor fix due in the spring", last_day).validate(
        actor=reviewer, today=today
    )
    with pytest.raises(Invalid, match="one year at most"):
        DecisionInput(
            "accept_risk", "Vendor fix due in the spring", last_day + timedelta(days=1)
        ).validate(actor=reviewer, today=today)


def test_accepted_risk_excludes_the_findings_until_expiry_then_brings_them_back(
    production, administrator, reviewer, django_capture_on_commit_callbacks
):
    finding = detected_alice_without_mfa(production)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    item = cycle.items.get()
    expiry = timezone.localdate() + timedelta(days=30)

    with django_capture_on_commit_callbacks(execute=True):
        decision = decide(
            item, reviewer, DecisionInput("accept_risk", "Vendor fix expected in Q1", expiry)
        )

    exclusion = Exclusion.objects.get()
    assert (exclusion.kind, exclusion.finding, exclusion.expires_on) == ("finding", finding, expiry)
    assert exclusion.owner == reviewer
    finding.refresh_from_db()
    assert finding.status == Finding.Status.EXCLUDED  # detection ran after the commit
    assert finding.exclusion == exclusion
    assert expire_risk_acceptances(today=expiry) == []  # the last accepted day

    after_expiry = expiry + timedelta(days=1)
    [returned] = expire_risk_acceptances(today=after_expiry)

    assert returned.follows_item == item
    follow_up = ReviewCycle.objects.get(pk=returned.cycle_id)
    assert follow_up != cycle
    assert follow_up.kind == "quarterly"
    assert follow_up.state == ReviewCycle.State.OPEN
    assert list(follow_up.scope_accounts.all()) == [production]
    assert follow_up.population_count == 1
    assert follow_up.population_hash == population_hash(items=follow_up.items.all())
    assert list(returned.findings.all()) == [finding]
    assert not returned.is_decided
    assert (
        returned.frozen_evidence["returned"]["previous_justification"]
        == "Vendor fix expected in Q1"
    )
    decision.refresh_from_db()
    assert decision.expiry_handled_at is not None
    assert "risk.expired" in actions()
    assert expire_risk_acceptances(today=after_expiry) == []

    detect_account(account=production, now=at_noon(after_expiry))
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN
    assert finding.exclusion is None
    assert FindingEvent.objects.filter(finding=finding, kind="included").exists()


def test_an_expired_risk_returns_into_an_open_cycle_of_the_same_kind(
    production, administrator, reviewer
):
    finding = external_access(production, "shared-reports")
    first = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])
    expiry = timezone.localdate() + timedelta(days=10)
    decide(
        first.items.get(),
        reviewer,
        DecisionInput("accept_risk", "Partner audit until the renewal", expiry),
    )
    Finding.objects.filter(pk=finding.pk).update(status=Finding.Status.EXCLUDED)
    later = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])
    assert later.items.count() == 0

    [returned] = expire_risk_acceptances(today=expiry + timedelta(days=1))

    assert returned.cycle == later
    later.refresh_from_db()
    assert later.population_count == 1
    assert later.population_hash == population_hash(items=later.items.all())


def test_a_returning_risk_keeps_what_its_change_mark_compares(production, administrator, reviewer):
    """The returning item's substance hash comes from its frozen evidence, not from the item
    it follows: one signed off before the hash existed has none to copy."""
    finding = external_access(production, "shared-reports")
    first = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])
    first.items.update(substance_hash=None)
    expiry = timezone.localdate() + timedelta(days=10)
    decide(
        first.items.get(),
        reviewer,
        DecisionInput("accept_risk", "Partner audit until the renewal", expiry),
    )
    Finding.objects.filter(pk=finding.pk).update(status=Finding.Status.EXCLUDED)
    open_cycle(kind="monthly", opened_by=administrator, accounts=[production])

    [returned] = expire_risk_acceptances(today=expiry + timedelta(days=1))

    assert returned.substance_hash is not None
    assert returned.substance_hash == substance_hash(evidence=returned.frozen_evidence)


def test_a_returning_risk_is_not_marked_no_response_the_hour_it_arrives(
    settings, production, administrator, reviewer
):
    settings.REVIEW_AT_DUE = {**settings.REVIEW_AT_DUE, "quarterly": "no_response"}
    credential_entry(production, "alice", password=True)
    credential_entry(production, "bob", key=True)
    first = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    tomorrow = timezone.localdate() + timedelta(days=1)
    decide(
        item_of(first, "alice"),
        reviewer,
        DecisionInput("accept_risk", "Vendor fix due in the spring", tomorrow),
    )
    # A later quarterly cycle, past its due date (still open: waiting for sign-off), without
    # alice (her password went meanwhile).
    CredentialReportEntry.objects.filter(arn=user_arn(production, "alice")).update(
        password_enabled=False
    )
    later = open_cycle(
        kind="quarterly",
        opened_by=administrator,
        accounts=[production],
        due_on=timezone.localdate() - timedelta(days=3),
    )
    decide_all(later, reviewer)
    back_on = timezone.localdate() + timedelta(days=2)
    [returned] = expire_risk_acceptances(today=back_on)
    assert returned.cycle_id == later.pk  # back for review, in the open quarterly cycle

    assert mark_no_response(now=at_noon(back_on)) == 0  # the next hourly run

    returned.refresh_from_db()
    assert returned.no_response_at is None
    later.tally.refresh_from_db()
    assert later.tally.awaiting == 1
    # It has the kind's full review period from the day it came back, then it is marked.
    own_due = back_on + timedelta(days=settings.REVIEW_QUARTERLY_DUE_DAYS)
    mark_no_response(now=at_noon(own_due))
    assert not later.items.exclude(no_response_at=None).exists()
    mark_no_response(now=at_noon(own_due + timedelta(days=1)))
    assert list(later.items.exclude(no_response_at=None)) == [returned]


def test_an_expired_risk_does_not_join_a_cycle_whose_frozen_evidence_was_edited(
    production, administrator, reviewer
):
    finding = external_access(production, "shared-reports")
    external_access(production, "public-logs")
    first = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])
    expiry = timezone.localdate() + timedelta(days=10)
    shared = first.items.get(subject_arn__contains="shared-reports")
    decide(shared, reviewer, DecisionInput("accept_risk", "Partner audit until renewal", expiry))
    Finding.objects.filter(pk=finding.pk).update(status=Finding.Status.EXCLUDED)
    later = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])
    recorded = later.population_hash
    # Someone with write access to the database edits an item's evidence hash (SQL).
    later.items.update(evidence_hash="0" * 64)

    [returned] = expire_risk_acceptances(today=expiry + timedelta(days=1))

    # The risk is reviewed in a cycle that can be signed off; the edited one keeps its hash.
    assert returned.cycle != later
    later.refresh_from_db()
    assert later.population_hash == recorded
    assert AuditEntry.objects.filter(
        action="cycle.population_mismatch", target_id=str(later.pk)
    ).exists()


def test_a_release_update_does_not_launder_evidence_edited_before_it(reviewer):
    from findings.reviews.evidence import evidence_hash
    from findings.reviews.evidence_pack import build_evidence_pack

    account = make_account()
    api, worker = iam_role(account, "checkout-api"), iam_role(account, "checkout-worker")
    cycle, _, _ = open_release_cycle(
        application="checkout", version="2.0", role_arns=[api.arn], notes="", opened_by=reviewer
    )
    recorded = cycle.population_hash
    # Someone with write access to the database rewrites what the reviewer will see, and its
    # hash with it (SQL; the cycle is open, so no trigger stops it).
    item = cycle.items.get()
    evidence = {**item.frozen_evidence, "policies": {"inline: harmless": {"Action": "s3:Get*"}}}
    ReviewItem.objects.filter(pk=item.pk).update(
        frozen_evidence=evidence, evidence_hash=evidence_hash(evidence=evidence)
    )

    # The pipeline registers the release again with one more role (routine).
    _, created, changes = open_release_cycle(
        application="checkout",
        version="2.0",
        role_arns=[api.arn, worker.arn],
        notes="",
        opened_by=reviewer,
    )

    assert not created and changes.added == [worker.arn]  # the role joins the review
    cycle.refresh_from_db()
    assert cycle.population_hash == recorded  # not recomputed over the edited item
    assert build_evidence_pack(cycle=cycle).manifest["population_hash_matches"] is False
    mismatch = AuditEntry.objects.get(action="cycle.population_mismatch")
    assert mismatch.before["population_hash"] == recorded
    assert mismatch.after["items_joining"] == [f"role:{worker.arn}"]
    updated = AuditEntry.objects.get(action="cycle.release_updated")
    assert updated.after["population_refreshed"] is False


def test_a_release_retried_after_its_only_role_left_the_inventory_gets_its_cycle(reviewer):
    """A pipeline's retry names the role the cycle already reviews, though collection no longer
    sees it: the same cycle, unchanged. A new version naming only that role is still refused
    (an empty cycle would prove nothing)."""
    from findings.models import IamRole

    account = make_account()
    worker = iam_role(account, "checkout-worker")

    def register(version: str):
        return open_release_cycle(
            application="checkout",
            version=version,
            role_arns=[worker.arn],
            notes="",
            opened_by=reviewer,
        )

    cycle, _, _ = register("2.0")
    IamRole.objects.filter(pk=worker.pk).update(gone_at=timezone.now())

    again, created, changes = register("2.0")

    assert (again.pk, created, bool(changes)) == (cycle.pk, False, False)
    assert again.unknown_role_arns == []
    assert not AuditEntry.objects.filter(action="cycle.release_updated").exists()
    with pytest.raises(Invalid, match="None of these roles is known"):
        register("2.1")


def roles_file(*names: str) -> bytes:
    """`aws iam get-account-authorization-details --filter Role` listing these roles."""
    import json

    from tests.findings.collection.test_imports import gaad_file

    [role] = json.loads(gaad_file({"Statement": []}))["RoleDetailList"]
    arn = role["Arn"].rsplit("/", 1)[0]
    return json.dumps(
        {
            "RoleDetailList": [
                {**role, "RoleName": name, "RoleId": f"AROA{name.upper()}", "Arn": f"{arn}/{name}"}
                for name in names
            ]
        }
    ).encode()


def test_a_role_a_release_named_before_it_was_collected_joins_its_open_review(reviewer, approver):
    """The usual pipeline order: the deploy creates a role, the pipeline registers the release
    (the role is not collected yet: reported unknown), then the account is collected. The role
    joins the open cycle then, frozen and audited as a registration naming it would: it is
    reviewed before sign-off, not reported for ever as held by no collected account."""
    from findings.collection.imports import import_file

    account = make_account()
    import_file(account=account, kind="authorization-details", data=roles_file("checkout-api"))
    api, refunds = (
        f"arn:aws:iam::{account.account_id}:role/{n}" for n in ("checkout-api", "checkout-refunds")
    )
    cycle, _, _ = open_release_cycle(
        application="checkout",
        version="3.0.0",
        role_arns=[api, refunds],
        notes="",
        opened_by=reviewer,
    )
    assert cycle.unknown_role_arns == [refunds]
    decide(cycle.items.get(), reviewer, keep())

    import_file(
        account=account,
        kind="authorization-details",
        data=roles_file("checkout-api", "checkout-refunds"),
    )

    cycle.refresh_from_db()
    assert cycle.unknown_role_arns == []
    joined = cycle.items.get(subject_arn=refunds)
    assert joined.frozen_evidence["facts"]["name"] == "checkout-refunds"
    items = list(cycle.items.all())
    assert cycle.population_count == 2
    assert cycle.population_hash == population_hash(items=items)
    updated = AuditEntry.objects.get(action="cycle.release_updated")
    assert updated.actor_label == "system"
    assert updated.after["added_role_arns"] == [refunds]
    assert updated.after["unknown_role_arns_dropped"] == [refunds]
    with pytest.raises(Forbidden, match="for a decision"):
        sign_off_cycle(
            cycle=cycle,
            approver=approver,
            attestation=ATTESTATION,
            summary_hash=sign_off_summary(cycle=cycle).digest,
        )
    # The pipeline's retry of the same release changes nothing more.
    _, created, changes = open_release_cycle(
        application="checkout",
        version="3.0.0",
        role_arns=[api, refunds],
        notes="",
        opened_by=reviewer,
    )
    assert (created, bool(changes)) == (False, False)
    # Collected again: nothing more to take in.
    assert take_in_collected_roles(account=account) == []


def test_taking_in_collected_roles_reads_one_row_set_when_no_release_waits_for_the_account(
    reviewer, django_assert_num_queries
):
    """Run after every collection: with no open release cycle waiting for a role of this
    account (here one waits for another account's), one query and nothing written."""
    account = make_account()
    api = iam_role(account, "checkout-api").arn
    elsewhere = "arn:aws:iam::444455556666:role/checkout-refunds"
    open_release_cycle(
        application="checkout",
        version="3.0.0",
        role_arns=[api, elsewhere],
        notes="",
        opened_by=reviewer,
    )

    with django_assert_num_queries(1):
        assert take_in_collected_roles(account=account) == []


def test_a_signed_off_release_takes_in_no_role_collected_after(reviewer, approver):
    account = make_account()
    api = iam_role(account, "checkout-api").arn
    refunds = f"arn:aws:iam::{account.account_id}:role/checkout-refunds"
    cycle, _, _ = open_release_cycle(
        application="checkout",
        version="3.0.0",
        role_arns=[api, refunds],
        notes="",
        opened_by=reviewer,
    )
    decide(cycle.items.get(), reviewer, keep())
    sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation=ATTESTATION,
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )
    iam_role(account, "checkout-refunds")

    assert take_in_collected_roles(account=account) == []
    cycle.refresh_from_db()
    assert (cycle.items.count(), cycle.unknown_role_arns) == (1, [refunds])


def test_a_superseded_risk_acceptance_does_not_come_back(quarterly, reviewer):
    item = item_of(quarterly, "alice")
    expiry = timezone.localdate() + timedelta(days=10)
    accepted = decide(
        item, reviewer, DecisionInput("accept_risk", "For now, until the vendor fix", expiry)
    )
    decide(item, reviewer, DecisionInput(kind="remediate"), expected=accepted.pk)

    assert expire_risk_acceptances(today=expiry + timedelta(days=1)) == []
    accepted.refresh_from_db()
    assert accepted.expiry_handled_at is not None


def test_a_false_positive_excludes_exactly_that_finding(production, administrator, reviewer):
    aa_row(production, "f-1", "arn:aws:s3:::shared-reports")
    aa_row(production, "f-2", "arn:aws:s3:::partner-drop")
    succeeded_run(production, Source.ACCESS_ANALYZER)
    detect_account(account=production)
    cycle = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])
    assert cycle.items.count() == 2
    item = cycle.items.get(subject_arn="arn:aws:s3:::shared-reports")
    target = item.findings.get()

    decide(item, reviewer, DecisionInput("false_positive", "The grantee is our own org"))

    exclusion = Exclusion.objects.get()
    assert (exclusion.kind, exclusion.finding) == (Exclusion.Kind.FINDING, target)
    assert exclusion.check_id == target.check_id
    # The same date next year: 366 days whenever a 29 February falls inside it.
    assert exclusion.expires_on == one_year_after(day=timezone.localdate())
    detect_account(account=production)
    statuses = dict(Finding.objects.values_list("resource_arn", "status"))
    assert statuses["arn:aws:s3:::shared-reports"] == Finding.Status.EXCLUDED
    assert statuses["arn:aws:s3:::partner-drop"] == Finding.Status.OPEN


def test_delegating_hands_the_item_to_another_reviewer_and_leaves_it_undecided(
    quarterly, reviewer, second_reviewer
):
    item = item_of(quarterly, "alice")

    made = decide(
        item,
        reviewer,
        DecisionInput("delegate", "You own the payments team", delegate_to=second_reviewer),
    )

    item.refresh_from_db()
    assert item.assignee == second_reviewer
    assert not item.is_decided
    assert item.latest_decision == made
    assert made.delegate_to == second_reviewer
    decide(item, second_reviewer, keep(), expected=made.pk)
    item.refresh_from_db()
    assert item.is_decided


def test_the_delegate_must_be_an_active_reviewer_and_not_oneself(quarterly, reviewer, approver):
    item = item_of(quarterly, "alice")
    former = make_person("fred.former@example.com", Role.REVIEWER)
    former.is_active = False
    former.save()

    for target in (None, reviewer, approver, former):
        with pytest.raises(Invalid) as refused:
            decide(item, reviewer, DecisionInput("delegate", "please", delegate_to=target))
        assert "delegate_to" in refused.value.errors
    assert not Decision.objects.exists()


def test_only_reviewers_decide(quarterly, approver, auditor, administrator, outsider):
    for person in (approver, auditor, administrator, outsider):
        with pytest.raises(Forbidden):
            decide(item_of(quarterly, "alice"), person)
    assert not Decision.objects.exists()


# --- Append-only decisions and conflicts ------------------------------------------------------


def test_decisions_are_append_only_and_the_latest_counts(quarterly, reviewer, second_reviewer):
    item = item_of(quarterly, "alice")
    first = decide(item, reviewer, keep("Needed by the on-call rota"))

    second = decide(item, second_reviewer, DecisionInput(kind="remediate"), expected=first.pk)

    assert Decision.objects.filter(item=item).count() == 2
    first.refresh_from_db()
    assert (first.kind, first.justification, first.decided_by) == (
        "keep",
        "Needed by the on-call rota",
        reviewer,
    )
    assert second.supersedes == first
    assert first.superseded_by == second
    item.refresh_from_db()
    assert item.latest_decision == second
    assert item.remediation == "pending"


def test_deciding_on_a_stale_view_raises_a_conflict_carrying_the_first_decision(
    quarterly, reviewer, second_reviewer
):
    item = item_of(quarterly, "alice")
    first = decide(item, reviewer, keep("Needed by the on-call rota"))

    with pytest.raises(Conflict) as conflict:
        decide(item, second_reviewer, DecisionInput(kind="remediate"), expected=None)

    assert conflict.value.current == first
    assert reviewer.email in str(conflict.value)
    assert Decision.objects.filter(item=item).count() == 1
    with pytest.raises(Conflict):
        decide(item, second_reviewer, keep(), expected=first.pk + 1000)
    # Their own earlier decision: no one else was looking.
    with pytest.raises(Conflict) as own:
        decide(item, reviewer, keep("Again: needed by the on-call rota"), expected=None)
    assert str(own.value) == (
        f"You already decided this item (Keep, decision {first.pk}): it is shown. To change "
        f"it, decide again (through the API, with previous_decision_id {first.pk})."
    )


def test_the_database_refuses_two_first_decisions_for_one_item(quarterly, reviewer):
    item = item_of(quarterly, "alice")
    Decision.objects.create(item=item, kind="keep", decided_by=reviewer, decided_at=timezone.now())

    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            item=item, kind="keep", decided_by=reviewer, decided_at=timezone.now()
        )


def test_two_reviewers_racing_on_postgres_cannot_both_decide(
    committed_db, administrator, reviewer, second_reviewer
):
    account = make_account()
    credential_entry(account, "alice", password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    item = cycle.items.get()

    outcomes = at_once(
        *[
            lambda person=person: decide(item, person, keep(f"{person.email} says keep"))
            for person in (reviewer, second_reviewer)
        ]
    )

    decisions = [o for o in outcomes if isinstance(o, Decision)]
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(decisions) == 1 and len(conflicts) == 1
    assert conflicts[0].current.pk == decisions[0].pk
    assert Decision.objects.filter(item=item).count() == 1
    item.refresh_from_db()
    assert item.latest_decision_id == decisions[0].pk
    assert actions().count("decision.recorded") == 1


def test_a_cycle_signed_off_while_items_are_being_assigned_is_no_error(
    committed_db, administrator, reviewer, second_reviewer, approver
):
    """Assigning read which items were in open cycles, then wrote them: a sign-off in between
    made the write fail on the signed cycle's lock (a 500). Now the assignment waits for the
    item, finds the cycle signed meanwhile, and assigns nothing."""
    account = make_account()
    credential_entry(account, "alice", password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    item = cycle.items.get()
    decide(item, reviewer)
    item_held, signing, signed = threading.Event(), threading.Event(), threading.Event()

    def someone_holds_the_item():
        # As a decision being recorded on it does: the assignment's write waits for it.
        with transaction.atomic():
            ReviewItem.objects.select_for_update().get(pk=item.pk)
            item_held.set()
            assert waiting_for_locks(1)  # the assignment
            signing.set()
            assert signed.wait(timeout=10)  # the approver signs meanwhile

    def assign():
        item_held.wait(timeout=10)
        return assign_items(items=[item], assignee=second_reviewer, actor=administrator)

    def sign():
        signing.wait(timeout=10)
        sign_off_cycle(
            cycle=cycle,
            approver=approver,
            attestation=ATTESTATION,
            summary_hash=sign_off_summary(cycle=cycle).digest,
        )
        signed.set()

    outcomes = at_once(someone_holds_the_item, assign, sign)

    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert 0 in outcomes  # items assigned
    item.refresh_from_db()
    assert item.assignee is None
    assert "items.assigned" not in actions()


def _expired_acceptance(administrator, reviewer, *, users=("alice",)):
    """A quarterly cycle whose item for alice holds an accepted risk until tomorrow: expired
    for expire_two_days_on (decisions are append-only, in the database too: the clock moves
    on, the expiry stays)."""
    account = make_account()
    for name in users:
        credential_entry(account, name, password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    alice = cycle.items.get(subject_arn=user_arn(account, "alice"))
    tomorrow = timezone.localdate() + timedelta(days=1)
    decide(alice, reviewer, DecisionInput("accept_risk", "Vendor fix due in the spring", tomorrow))
    return account, alice


def expire_two_days_on() -> list[ReviewItem]:
    return expire_risk_acceptances(today=timezone.localdate() + timedelta(days=2))


def in_thread(function):
    """Run `function` on its own connection; its result, or the exception it raised."""
    outcome: list = []

    def run():
        try:
            outcome.append(function())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_an_expiry_run_skips_a_risk_another_run_is_bringing_back(
    committed_db, administrator, reviewer
):
    """A retried beat message or a manual run at the same time brings the risk back once."""
    _, alice = _expired_acceptance(administrator, reviewer)
    with transaction.atomic():
        Decision.objects.select_for_update().get(item=alice)  # the other run holds it
        thread, outcome = in_thread(expire_two_days_on)
        thread.join(timeout=20)
    assert outcome == [[]]
    assert len(expire_two_days_on()) == 1
    assert expire_two_days_on() == []
    assert ReviewItem.objects.filter(follows_item=alice).count() == 1


def test_an_acceptance_renewed_while_an_expiry_run_waits_does_not_come_back(
    committed_db, administrator, reviewer
):
    """The run read the expired acceptances, then waited (bob's risk, for a cycle being signed
    off); meanwhile the reviewer renewed alice's. Only bob's risk comes back."""
    account = make_account()
    for name in ("bob", "alice"):
        credential_entry(account, name, password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    bob, alice = (cycle.items.get(subject_arn=user_arn(account, name)) for name in ("bob", "alice"))
    tomorrow = timezone.localdate() + timedelta(days=1)
    decide(bob, reviewer, DecisionInput("accept_risk", "Vendor fix due", tomorrow))
    accepted = decide(alice, reviewer, DecisionInput("accept_risk", "Vendor fix due", tomorrow))
    later = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    renewal = DecisionInput(
        "accept_risk", "Vendor fix slipped to the summer", tomorrow + timedelta(days=90)
    )

    with transaction.atomic():
        ReviewCycle.objects.select_for_update().get(pk=later.pk)  # as signing off locks it
        run, outcome = in_thread(expire_two_days_on)
        assert waiting_for_locks()  # bob's risk waits for the cycle
        reviewing, renewed = in_thread(lambda: decide(alice, reviewer, renewal, accepted.pk))
        reviewing.join(timeout=20)
        assert [type(made) for made in renewed] == [Decision]
    run.join(timeout=20)

    [returned] = outcome
    assert [item.follows_item_id for item in returned] == [bob.pk]
    assert not ReviewItem.objects.filter(follows_item=alice).exists()
    assert expire_two_days_on() == []


def test_an_expired_risk_does_not_land_in_a_cycle_being_signed_off(
    committed_db, administrator, reviewer, approver
):
    account, alice = _expired_acceptance(administrator, reviewer, users=("alice", "bob"))
    alice_arn = user_arn(account, "alice")
    CredentialReportEntry.objects.filter(arn=alice_arn).update(password_enabled=False)
    later = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    assert not later.items.filter(subject_arn=alice_arn).exists()
    for item in later.items.all():
        decide(item, reviewer, keep("Needed by the on-call rota"))

    with transaction.atomic():
        locked = ReviewCycle.objects.select_for_update().get(pk=later.pk)  # as signing does
        thread, outcome = in_thread(expire_two_days_on)
        thread.join(timeout=1)  # waits for the cycle's lock
        sign_off_cycle(
            cycle=locked,
            approver=approver,
            attestation=ATTESTATION,
            summary_hash=sign_off_summary(cycle=locked).digest,
        )
    thread.join(timeout=20)

    [[returned]] = outcome
    later.refresh_from_db()
    assert later.state == "signed_off" and not later.items.filter(is_decided=False).exists()
    assert later.population_hash == later.signed_population_hash
    assert returned.cycle_id not in (later.pk, alice.cycle_id)


def test_with_the_broker_down_an_excluding_decision_is_kept_and_detected_in_the_request(
    broker_down, administrator, reviewer, django_capture_on_commit_callbacks
):
    """Sent expecting a result, the task waited ~20 s on the Redis result backend and raised a
    RuntimeError (not the broker's error): the decision's request answered 500."""
    account = make_account()
    finding = detected_alice_without_mfa(account)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    until = timezone.localdate() + timedelta(days=30)

    with django_capture_on_commit_callbacks(execute=True):
        decide(
            cycle.items.get(),
            reviewer,
            DecisionInput("accept_risk", "Vendor fix due in the spring", until),
        )

    finding.refresh_from_db()
    assert finding.status == Finding.Status.EXCLUDED
    assert cycle.items.get().is_decided


@pytest.mark.services
def test_a_worker_on_redis_applies_an_exclusion_after_the_decision_returns(
    committed_db, celery_on_redis, administrator, reviewer
):
    """With a broker, the account's detection after an excluding decision is a task: the
    reviewer's request does not wait for it, and a real worker carries it out."""
    import time as clock
    import uuid

    import findings.reviews.tasks  # noqa: F401 - registers the task with this test's app

    account = make_account()
    finding = detected_alice_without_mfa(account)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    queue = f"iamreview-test-{uuid.uuid4().hex[:8]}"
    celery_on_redis.conf.task_default_queue = queue  # no other test run's worker takes it
    with solo_worker(celery_on_redis, queue=queue):
        import celery

        assert not celery.current_app.conf.task_always_eager  # the worker's app, on Redis
        until = timezone.localdate() + timedelta(days=30)
        decide(
            cycle.items.get(),
            reviewer,
            DecisionInput("accept_risk", "Vendor fix due in the spring", until),
        )
        deadline = clock.monotonic() + 30
        while clock.monotonic() < deadline:
            finding.refresh_from_db()
            if finding.status == Finding.Status.EXCLUDED:
                break
            clock.sleep(0.2)
    assert finding.status == Finding.Status.EXCLUDED


@pytest.mark.services
def test_a_burst_of_excluding_decisions_on_one_account_queues_one_detection(
    committed_db, celery_on_redis, administrator, reviewer, redis_url
):
    """A reviewer deciding item after item queued a whole-account detection for each. Those
    committed before the queued detection starts share it: one message for three decisions,
    and the worker excludes all three findings."""
    import time as clock
    import uuid

    import redis

    import findings.reviews.tasks  # noqa: F401 - registers the task with this test's app

    account = make_account()
    for user in ("alice", "bob", "carol"):
        credential_entry(account, user, password=True)
    succeeded_run(account, Source.CREDENTIAL_REPORT)
    detect_account(account=account)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    queue = f"iamreview-test-{uuid.uuid4().hex[:8]}"
    celery_on_redis.conf.task_default_queue = queue
    celery_on_redis.set_current()  # what the decisions send through, without a worker yet
    broker = redis.Redis.from_url(redis_url)
    until = timezone.localdate() + timedelta(days=30)
    try:
        for item in cycle.items.order_by("pk"):
            decide(item, reviewer, DecisionInput("accept_risk", "Vendor fix in spring", until))
        assert broker.llen(queue) == 1
        with solo_worker(celery_on_redis, queue=queue):
            deadline = clock.monotonic() + 30
            while clock.monotonic() < deadline:
                if not Finding.objects.filter(account=account, status="open").exists():
                    break
                clock.sleep(0.2)
    finally:
        broker.delete(queue)
    assert set(Finding.objects.filter(account=account).values_list("status", flat=True)) == {
        Finding.Status.EXCLUDED
    }


@pytest.mark.services
def test_once_the_worker_on_redis_stops_a_request_in_another_thread_detects_in_process_again(
    committed_db, celery_on_redis, administrator, reviewer
):
    """The worker made its app Celery's default, which every thread without an app of its own
    (a live server's request) falls back on. Left behind, a later test's tasks went to its
    Redis queue, where nothing listened any more (the embedded collection once waited there
    for ever)."""
    import uuid

    account = make_account()
    finding = detected_alice_without_mfa(account)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    queue = f"iamreview-test-{uuid.uuid4().hex[:8]}"
    celery_on_redis.conf.task_default_queue = queue
    with solo_worker(celery_on_redis, queue=queue):
        pass
    until = timezone.localdate() + timedelta(days=30)
    request, outcome = in_thread(
        lambda: decide(
            cycle.items.get(), reviewer, DecisionInput("accept_risk", "Vendor fix in spring", until)
        )
    )
    request.join(timeout=30)
    assert isinstance(outcome[0], Decision)
    finding.refresh_from_db()
    assert finding.status == Finding.Status.EXCLUDED


def test_two_administrators_opening_the_same_cycle_at_once_open_one(committed_db, administrator):
    """The overlap check and the opening hold a lock: two at the same moment do not both pass
    the check (a double click is stopped in the page; this is two people, or two tabs)."""
    from findings.reviews.services import open_cycle_by_hand

    account = make_account()
    credential_entry(account, "alice", password=True)

    def open_it():
        return open_cycle_by_hand(kind="quarterly", opened_by=administrator, accounts=None)

    outcomes = at_once(open_it, open_it)

    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyOpen", "ReviewCycle"]
    assert ReviewCycle.objects.filter(kind="quarterly").count() == 1


# --- Segregation of duties --------------------------------------------------------------------


def test_a_decision_records_the_identities_linked_to_its_decider_at_the_time(
    quarterly, production, reviewer
):
    from findings.models import AuditEntry

    mine = user_arn(production, "rita")
    LinkedIdentity.objects.create(user=reviewer, arn=mine)

    made = decide(item_of(quarterly, "alice"), reviewer)
    LinkedIdentity.objects.filter(user=reviewer).delete()  # removed later: the record stays

    made.refresh_from_db()
    assert made.decider_links == [mine]
    entry = AuditEntry.objects.filter(action="decision.recorded").last()
    assert entry.after["decider_links"] == [mine]


def test_a_reviewer_cannot_decide_an_item_about_their_own_identity(
    quarterly, production, reviewer, second_reviewer
):
    item = item_of(quarterly, "alice")
    LinkedIdentity.objects.create(user=reviewer, arn=user_arn(production, "alice"))

    with pytest.raises(Forbidden, match="Segregation of duties"):
        decide(item, reviewer)

    assert not Decision.objects.exists()
    decide(item, second_reviewer)


def test_a_reviewer_cannot_decide_an_item_whose_finding_concerns_their_identity(
    production, reviewer, second_reviewer
):
    role = iam_role(production, "deployer")
    own = "arn:aws:iam::111122223333:user/rita"
    finding = make_finding(production, "full-admin", own, severity="critical")
    cycle = create_cycle(
        kind="release",
        title="Release shop 3",
        specs=[
            ItemSpec(
                account=production,
                subject_type="role",
                subject_arn=role.arn,
                subject_key=f"role:{role.arn}",
                title="deployer",
                evidence={"facts": {"arn": role.arn}},
                finding_ids=[finding.pk],
            )
        ],
        accounts=[production],
        opened_by=reviewer,
    )
    LinkedIdentity.objects.create(user=reviewer, arn=own)

    with pytest.raises(Forbidden, match="Segregation of duties") as refused:
        decide(cycle.items.get(), reviewer)

    assert own in str(refused.value)
    decide(cycle.items.get(), second_reviewer)


def test_an_approver_who_decided_an_item_cannot_sign_off_but_another_can(
    quarterly, reviewer, approver
):
    manager = make_person("mia.manager@example.com", Role.APPROVER, Role.REVIEWER)
    items = list(quarterly.items.all())
    decide(items[0], manager)
    for item in items[1:]:
        decide(item, reviewer)

    with pytest.raises(Forbidden, match="Segregation of duties"):
        sign_off_cycle(
            cycle=quarterly,
            approver=manager,
            attestation=ATTESTATION,
            summary_hash=sign_off_summary(cycle=quarterly).digest,
        )

    signed = sign_off_cycle(
        cycle=quarterly,
        approver=approver,
        attestation=ATTESTATION,
        summary_hash=sign_off_summary(cycle=quarterly).digest,
    )
    assert signed.signed_off_by == approver


def sign(cycle, approver) -> ReviewCycle:
    return sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation=ATTESTATION,
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )


def test_whoever_registered_a_release_cannot_sign_it_off_but_another_approver_can(
    production, reviewer, approver
):
    """A pipeline's token reaches its owner's every role: one holding Reviewer (to register)
    and Approver signed off the release it registered once someone else decided it."""
    pipeline = make_person("ci-bot@example.com", Role.REVIEWER, Role.APPROVER)
    cycle, _, _ = open_release_cycle(
        application="checkout",
        version="7",
        role_arns=[iam_role(production, "checkout-api").arn],
        notes="",
        opened_by=pipeline,
    )
    decide_all(cycle, reviewer)

    with pytest.raises(Forbidden) as refused:
        sign(cycle, pipeline)

    assert str(refused.value) == (
        "Segregation of duties: you registered this release, so another approver must sign it off"
    )
    assert sign(cycle, approver).signed_off_by == approver


def test_registering_a_release_again_with_other_roles_is_registering_it_too(
    production, reviewer, approver
):
    """The release's second pipeline chose roles under review as much as the first did; a
    retry that changed nothing wrote nothing and chose nothing."""
    first = make_person("ci-one@example.com", Role.REVIEWER)
    second = make_person("ci-two@example.com", Role.REVIEWER, Role.APPROVER)
    retrying = make_person("ci-retry@example.com", Role.REVIEWER, Role.APPROVER)
    api, worker = iam_role(production, "api"), iam_role(production, "worker")

    def register(person, *roles):
        return open_release_cycle(
            application="shop",
            version="3",
            role_arns=[role.arn for role in roles],
            notes="",
            opened_by=person,
        ).cycle

    cycle = register(first, api)
    register(second, api, worker)
    register(retrying, api, worker)  # the same roles: nothing written
    decide_all(cycle, reviewer)

    with pytest.raises(Forbidden, match="you registered this release"):
        sign(cycle, second)
    assert sign(cycle, retrying).signed_off_by == retrying


def test_an_administrator_who_opened_a_cycle_by_hand_may_still_sign_it_off(production, reviewer):
    """A monthly or quarterly cycle's population is the accounts' evidence, not the opener's
    choice: opening one by hand is no conflict, unlike registering a release."""
    credential_entry(production, "alice", password=True)
    manager = make_person("max.manager@example.com", Role.ADMINISTRATOR, Role.APPROVER)
    cycle = open_cycle_by_hand(kind="quarterly", opened_by=manager, accounts=[production])
    decide_all(cycle, reviewer)

    assert sign(cycle, manager).signed_off_by == manager


# --- Bulk decisions and assignment ------------------------------------------------------------


def test_a_bulk_decision_needs_one_comment(quarterly, reviewer):
    with pytest.raises(Invalid) as refused:
        bulk_decide(
            items=list(quarterly.items.all()),
            actor=reviewer,
            decision=DecisionInput(kind="remediate"),
            seen_at=timezone.now(),
        )

    assert "justification" in refused.value.errors
    assert not Decision.objects.exists()


def test_a_bulk_decision_decides_every_item_with_the_same_comment(quarterly, reviewer):
    result = bulk_decide(
        items=list(quarterly.items.all()),
        actor=reviewer,
        decision=keep("Service users of the batch platform"),
        seen_at=timezone.now(),
    )

    assert len(result.decided) == 3
    assert result.conflicts == [] and result.refused == []
    assert set(Decision.objects.values_list("justification", "bulk")) == {
        ("Service users of the batch platform", True)
    }
    assert not quarterly.items.filter(is_decided=False).exists()


def test_the_same_bulk_decision_sent_twice_is_recorded_once(quarterly, reviewer):
    """Back and resend (or a retry) recorded every decision twice, with two audit entries."""
    seen_at = timezone.now()
    form = {"actor": reviewer, "decision": keep("Service users of the batch platform")}
    first = bulk_decide(items=list(quarterly.items.all()), seen_at=seen_at, **form)

    again = bulk_decide(items=list(quarterly.items.all()), seen_at=seen_at, **form)

    assert len(first.decided) == 3
    assert (again.decided, again.conflicts, len(again.repeated)) == ([], [], 3)
    assert Decision.objects.count() == 3
    # A different decision from the same page is a new one, as is the same from a fresh page.
    changed = bulk_decide(
        items=list(quarterly.items.all()),
        seen_at=seen_at,
        actor=reviewer,
        decision=DecisionInput("remediate", "Tidy"),
    )
    assert len(changed.decided) == 3 and Decision.objects.count() == 6


def test_a_bulk_keep_sent_twice_with_an_expiry_is_recorded_once(quarterly, reviewer):
    """An expiry means something for an accepted risk only: stored as none with a Keep, it
    must not make the same Keep sent again look like another decision."""
    seen_at = timezone.now()
    expiry = timezone.localdate() + timedelta(days=90)
    form = {
        "actor": reviewer,
        "decision": DecisionInput("keep", "Service users of the batch platform", expiry),
    }
    first = bulk_decide(items=list(quarterly.items.all()), seen_at=seen_at, **form)

    again = bulk_decide(items=list(quarterly.items.all()), seen_at=seen_at, **form)

    assert len(first.decided) == 3
    assert (again.decided, again.conflicts, len(again.repeated)) == ([], [], 3)
    assert set(Decision.objects.values_list("expires_on", flat=True)) == {None}
    assert actions().count("decision.recorded") == 3


def test_the_same_bulk_decision_sent_twice_at_once_is_recorded_once(committed_db, reviewer):
    from findings.reviews.services import open_cycle

    account = make_account()
    for name in ("alice", "bob", "carol"):
        credential_entry(account, name, password=True)
    cycle = open_cycle(kind="quarterly", opened_by=None, period="2026-Q4")
    seen_at = timezone.now()

    def send():
        return bulk_decide(
            items=list(cycle.items.all()),
            actor=reviewer,
            decision=keep("Service users of the batch platform"),
            seen_at=seen_at,
        )

    results = at_once(send, send)

    assert sorted(len(r.decided) + len(r.repeated) for r in results) == [3, 3]
    assert all(r.conflicts == [] for r in results)
    assert Decision.objects.count() == 3


def test_a_bulk_decision_reports_items_decided_meanwhile_as_conflicts(
    quarterly, reviewer, second_reviewer
):
    stale = list(quarterly.items.all())
    seen_at = timezone.now()
    theirs = decide(item_of(quarterly, "alice"), second_reviewer, keep("Mine: the on-call account"))
    decide(item_of(quarterly, "bob"), second_reviewer, keep("Mine too"))
    fresh = [item_of(quarterly, "alice")] + [
        i for i in stale if not i.subject_arn.endswith("alice")
    ]

    result = bulk_decide(
        items=fresh, actor=reviewer, decision=DecisionInput("remediate", "Tidy"), seen_at=seen_at
    )

    conflicted = sorted(item.subject_arn.rsplit("/", 1)[1] for item, _ in result.conflicts)
    assert conflicted == ["alice", "bob"]  # alice seen as decided, bob only stale
    assert [item.subject_arn.rsplit("/", 1)[1] for item in result.decided] == ["carol"]
    assert second_reviewer.email in dict(result.conflicts)[fresh[0]]
    assert item_of(quarterly, "alice").latest_decision == theirs
    assert Decision.objects.filter(decided_by=reviewer).count() == 1


def test_a_bulk_decision_reports_items_refused_by_segregation_of_duties(
    quarterly, production, reviewer
):
    LinkedIdentity.objects.create(user=reviewer, arn=user_arn(production, "bob"))

    result = bulk_decide(
        items=list(quarterly.items.all()),
        actor=reviewer,
        decision=keep("Batch users of the nightly run"),
        seen_at=timezone.now(),
    )

    [(refused, message)] = result.refused
    assert refused.subject_arn.endswith("/bob")
    assert "Segregation of duties" in message
    assert len(result.decided) == 2
    assert not item_of(quarterly, "bob").is_decided


def test_a_bulk_exclusion_runs_detection_once_per_account_not_once_per_item(
    production, administrator, reviewer, django_capture_on_commit_callbacks
):
    """A thousand false positives at once ran detection (and the freshness of every open cycle)
    a thousand times inside the request: now as often as for one decision."""
    for name in ("alice", "bob", "carol", "dave", "erin", "frank", "grace"):
        credential_entry(production, name, password=True)
    succeeded_run(production, Source.CREDENTIAL_REPORT)
    detect_account(account=production)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    first, *rest = cycle.items.order_by("id")
    false_positive = DecisionInput("false_positive", "Break-glass users, MFA on hardware")

    def detection_reads(decide_them) -> int:
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            decide_them()
        return sum('FROM "findings_credentialreportentry"' in q["sql"] for q in queries)

    one = detection_reads(lambda: decide(first, reviewer, false_positive))
    result: list = []
    six = detection_reads(
        lambda: result.append(
            bulk_decide(items=rest, actor=reviewer, decision=false_positive, seen_at=timezone.now())
        )
    )
    assert len(result[0].decided) == 6
    assert six == one > 0
    assert set(Finding.objects.values_list("status", flat=True)) == {Finding.Status.EXCLUDED}


def test_assigning_items_to_a_reviewer(quarterly, reviewer, second_reviewer, auditor, approver):
    items = list(quarterly.items.all())

    assert assign_items(items=items[:2], assignee=second_reviewer, actor=reviewer) == 2

    assert quarterly.items.filter(assignee=second_reviewer).count() == 2
    assert "items.assigned" in actions()
    with pytest.raises(Invalid):
        assign_items(items=items, assignee=approver, actor=reviewer)
    with pytest.raises(Forbidden):
        assign_items(items=items, assignee=reviewer, actor=auditor)


def test_an_item_about_a_reviewers_own_identity_is_not_assigned_to_them(
    quarterly, production, reviewer, second_reviewer, administrator
):
    """Delegating it to her is refused; assigning it is too: she may not decide it, and
    everyone else's "next undecided" passes it by as hers. The selection is refused whole."""
    LinkedIdentity.objects.create(user=reviewer, arn=user_arn(production, "alice"))
    items = list(quarterly.items.all())

    with pytest.raises(Invalid, match="1 selected item concerns rita.reviewer@example.com's own"):
        assign_items(items=items, assignee=reviewer, actor=administrator)

    assert not quarterly.items.exclude(assignee=None).exists()
    assert "items.assigned" not in actions()
    assert assign_items(items=items, assignee=second_reviewer, actor=administrator) == 3


def test_an_item_whose_finding_is_about_a_reviewers_identity_is_not_assigned_to_them(
    quarterly, production, reviewer, administrator
):
    """As for deciding: an item is theirs when its subject or one of its findings is."""
    bob = item_of(quarterly, "bob")
    LinkedIdentity.objects.create(user=reviewer, arn="arn:aws:iam::111122223333:role/rita")
    bob.findings.add(
        make_finding(production, "trust", "arn:aws:iam::111122223333:role/rita", severity="low")
    )

    with pytest.raises(Invalid, match="“bob"):
        assign_items(items=[bob], assignee=reviewer, actor=administrator)


def leave_by_revoking_the_role(person, administrator, client) -> None:
    revoke_role(user=person, role=Role.REVIEWER, actor=administrator)


def leave_by_deactivation(person, administrator, client) -> None:
    deactivate_person(user=person, actor=administrator)


def leave_in_the_admin(person, administrator, client) -> None:
    """The Reviewer role unticked on the person's admin page."""
    client.force_login(administrator)
    response = client.post(
        f"/admin/accounts/user/{person.pk}/change/",
        {
            "email": person.email,
            "is_active": "on",
            "groups": [],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:3000]


@pytest.mark.parametrize(
    ("leave", "reason"),
    [
        (leave_by_revoking_the_role, "Reviewer revoked"),
        (leave_by_deactivation, "deactivated"),
        (leave_in_the_admin, "Reviewer revoked"),
    ],
)
def test_the_undecided_items_of_someone_who_may_no_longer_decide_are_nobodys_again(
    quarterly, reviewer, second_reviewer, administrator, client, leave, reason
):
    """Left assigned to someone who may not decide them, they counted as nobody's work to
    pick up (queue, digests) until the cycle was overdue."""
    alice, bob, carol = (
        item_of(quarterly, "alice"),
        item_of(quarterly, "bob"),
        item_of(quarterly, "carol"),
    )
    assign_items(items=[alice, bob], assignee=reviewer, actor=administrator)
    assign_items(items=[carol], assignee=second_reviewer, actor=administrator)
    decide(bob, reviewer)

    leave(reviewer, administrator, client)

    assignees = dict(quarterly.items.values_list("pk", "assignee"))
    assert assignees == {alice.pk: None, bob.pk: reviewer.pk, carol.pk: second_reviewer.pk}
    assert CycleTally.objects.get(cycle=quarterly).unassigned == 1
    [handed_back] = AuditEntry.objects.filter(action="items.assigned", before__isnull=False)
    assert (handed_back.actor, handed_back.target_label) == (
        administrator,
        f"1 items of {reviewer.email}",
    )
    assert handed_back.before == {"assignee": reviewer.email}
    assert handed_back.after == {"assignee": None, "items": [alice.pk], "reason": reason}


def test_someone_who_may_still_decide_keeps_their_items(quarterly, administrator):
    both = make_person("rex.reviewer@example.com", Role.REVIEWER, Role.APPROVER)
    assign_items(items=list(quarterly.items.all()), assignee=both, actor=administrator)

    revoke_role(user=both, role=Role.APPROVER, actor=administrator)

    assert quarterly.items.filter(assignee=both).count() == 3
    assert not AuditEntry.objects.filter(action="items.assigned", before__isnull=False).exists()


def test_a_superuser_who_loses_administrator_hands_back_what_they_were_assigned(
    quarterly, administrator
):
    """A superuser may decide without the Reviewer role, and so be assigned items."""
    boss = User.objects.create_superuser("boss@example.com", "correct horse battery 9")
    assign_items(items=list(quarterly.items.all()), assignee=boss, actor=administrator)

    revoke_role(user=boss, role=Role.ADMINISTRATOR, actor=administrator)

    assert not quarterly.items.filter(assignee=boss).exists()


def test_a_decision_under_way_on_an_item_of_a_reviewer_losing_their_role_is_no_deadlock(
    committed_db, administrator, reviewer, second_reviewer
):
    """The revocation takes the person's items before it writes to the audit log, as a
    decision takes its item before it does: the revocation waits for the decision, finds the
    item decided, and hands back only the others."""
    account = make_account()
    credential_entry(account, "alice", password=True)
    credential_entry(account, "bob", key=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    alice, bob = item_of(cycle, "alice"), item_of(cycle, "bob")
    assign_items(items=[alice, bob], assignee=reviewer, actor=administrator)
    item_held = threading.Event()

    def a_decision_under_way():
        with transaction.atomic():
            ReviewItem.objects.select_for_update().get(pk=alice.pk)
            item_held.set()
            assert waiting_for_locks(1)  # the revocation
            decide(alice, second_reviewer)  # its cycle, then the audit log

    def revoke():
        item_held.wait(timeout=10)
        return revoke_role(user=reviewer, role=Role.REVIEWER, actor=administrator)

    outcomes = at_once(a_decision_under_way, revoke)

    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert dict(cycle.items.values_list("pk", "assignee")) == {alice.pk: reviewer.pk, bob.pk: None}


# --- Sign-off ---------------------------------------------------------------------------------


def test_sign_off_is_refused_while_items_wait_for_a_decision(quarterly, reviewer, approver):
    decide(item_of(quarterly, "alice"), reviewer)

    with pytest.raises(Forbidden, match="2 items still wait for a decision"):
        sign_off_cycle(
            cycle=quarterly,
            approver=approver,
            attestation=ATTESTATION,
            summary_hash=sign_off_summary(cycle=quarterly).digest,
        )

    quarterly.refresh_from_db()
    assert quarterly.state == ReviewCycle.State.OPEN


def test_a_delegated_item_still_waits_for_a_decision(
    quarterly, reviewer, second_reviewer, approver
):
    decide_all(quarterly, reviewer)
    alice = item_of(quarterly, "alice")
    decide(
        alice,
        reviewer,
        DecisionInput("delegate", "Yours", delegate_to=second_reviewer),
        expected=alice.latest_decision_id,
    )

    with pytest.raises(Forbidden, match="1 item still waits"):
        sign_off_cycle(
            cycle=quarterly,
            approver=approver,
            attestation=ATTESTATION,
            summary_hash=sign_off_summary(cycle=quarterly).digest,
        )


def overdue_item_marked_no_response(settings, production, administrator) -> ReviewItem:
    settings.REVIEW_AT_DUE = {**settings.REVIEW_AT_DUE, "quarterly": "no_response"}
    credential_entry(production, "alice", password=True)
    cycle = open_cycle(
        kind="quarterly",
        opened_by=administrator,
        accounts=[production],
        due_on=timezone.localdate() - timedelta(days=1),
    )
    assert mark_no_response() == 1
    return cycle.items.get()


def test_delegating_an_item_marked_no_response_makes_it_wait_for_the_delegate(
    settings, production, administrator, reviewer, second_reviewer
):
    item = overdue_item_marked_no_response(settings, production, administrator)

    # A reviewer responds after all: hands it to the colleague who owns alice.
    decide(item, reviewer, DecisionInput("delegate", "Sam owns alice", delegate_to=second_reviewer))

    item.refresh_from_db()
    assert item.no_response_at is None
    assert sign_off_summary(cycle=item.cycle).no_response == []
    item.cycle.tally.refresh_from_db()
    assert item.cycle.tally.awaiting == 1  # the sign-off waits for Sam
    [entry] = AuditEntry.objects.filter(action="decision.recorded")
    assert entry.before["no_response_at"] and entry.after["no_response_at"] is None


def test_an_item_delegated_after_the_due_date_is_not_marked_no_response_again(
    settings, production, administrator, reviewer, second_reviewer
):
    item = overdue_item_marked_no_response(settings, production, administrator)
    decide(item, reviewer, DecisionInput("delegate", "Sam owns alice", delegate_to=second_reviewer))

    assert mark_no_response() == 0  # the next hourly run

    item.refresh_from_db()
    assert item.no_response_at is None


def test_an_overdue_item_delegated_while_the_hourly_run_marks_it_waits_for_the_delegate(
    committed_db, settings, administrator, reviewer, second_reviewer
):
    """The run picked the item while the reviewer was delegating it; it waited for the item,
    and marks it only if it is still without a response once the delegation is in."""
    settings.REVIEW_AT_DUE = {**settings.REVIEW_AT_DUE, "quarterly": "no_response"}
    account = make_account()
    credential_entry(account, "alice", password=True)
    yesterday = timezone.localdate() - timedelta(days=1)
    cycle = open_cycle(
        kind="quarterly", opened_by=administrator, accounts=[account], due_on=yesterday
    )
    item = cycle.items.get()

    with transaction.atomic():
        decide(
            item, reviewer, DecisionInput("delegate", "Sam owns alice", delegate_to=second_reviewer)
        )
        run, outcome = in_thread(mark_no_response)
        assert waiting_for_locks()
    run.join(timeout=20)

    assert outcome == [0]
    item.refresh_from_db()
    assert item.no_response_at is None
    assert sign_off_summary(cycle=cycle).no_response == []


def test_sign_off_records_who_when_the_attestation_and_the_population_then_locks(
    quarterly, reviewer, second_reviewer, approver
):
    decide_all(quarterly, reviewer)

    signed = sign_off_cycle(
        cycle=quarterly,
        approver=approver,
        attestation=f"  {ATTESTATION} ",
        summary_hash=sign_off_summary(cycle=quarterly).digest,
    )

    signed.refresh_from_db()
    assert signed.state == ReviewCycle.State.SIGNED_OFF
    assert signed.signed_off_by == approver
    assert timezone.now() - signed.signed_off_at < timedelta(minutes=1)
    assert signed.attestation == ATTESTATION
    assert signed.signed_population_hash == signed.population_hash
    with pytest.raises(Forbidden, match="signed off and locked"):
        decide(item_of(quarterly, "bob"), second_reviewer, expected=None)
    alice = item_of(quarterly, "alice")
    with pytest.raises(Forbidden, match="locked"):
        decide(alice, reviewer, DecisionInput("remediate"), expected=alice.latest_decision_id)
    with pytest.raises(Forbidden, match="already signed off"):
        sign_off_cycle(
            cycle=quarterly,
            approver=approver,
            attestation=ATTESTATION,
            summary_hash=sign_off_summary(cycle=quarterly).digest,
        )
    assert assign_items(items=[alice], assignee=second_reviewer, actor=reviewer) == 0
    alice.refresh_from_db()
    assert alice.assignee is None


def test_sign_off_needs_an_attestation_and_an_approver(quarterly, reviewer, approver):
    decide_all(quarterly, reviewer)

    with pytest.raises(Invalid):
        sign_off_cycle(
            cycle=quarterly,
            approver=approver,
            attestation="  ",
            summary_hash=sign_off_summary(cycle=quarterly).digest,
        )
    with pytest.raises(Forbidden, match="Only approvers"):
        sign_off_cycle(
            cycle=quarterly,
            approver=reviewer,
            attestation=ATTESTATION,
            summary_hash=sign_off_summary(cycle=quarterly).digest,
        )


def test_sign_off_needs_the_hash_of_the_summary_the_approver_read(quarterly, reviewer, approver):
    """Else the cycle would record, as the summary signed, one the approver never loaded."""
    decide_all(quarterly, reviewer)

    for unread in ("", "   "):
        with pytest.raises(Invalid) as refused:
            sign_off_cycle(
                cycle=quarterly, approver=approver, attestation=ATTESTATION, summary_hash=unread
            )
        assert refused.value.errors == {
            "summary_hash": "Read the sign-off summary first, then sign against its hash "
            "(summary_hash)."
        }
    with pytest.raises(Invalid) as stale:
        sign_off_cycle(
            cycle=quarterly, approver=approver, attestation=ATTESTATION, summary_hash="0" * 64
        )
    assert set(stale.value.errors) == {"summary"}
    quarterly.refresh_from_db()
    assert quarterly.state == "open" and quarterly.signed_summary_hash == ""
    assert not AuditEntry.objects.filter(action="cycle.signed_off").exists()


def test_an_approver_who_may_not_sign_is_told_so_before_what_the_request_lacks(
    quarterly, reviewer, approver
):
    decide(item_of(quarterly, "alice"), reviewer)
    with pytest.raises(Forbidden, match="2 items still wait"):
        sign_off_cycle(cycle=quarterly, approver=approver, attestation="", summary_hash="")


def test_an_attestation_needs_ten_characters_once_stripped(quarterly, reviewer, approver):
    decide_all(quarterly, reviewer)
    digest = sign_off_summary(cycle=quarterly).digest
    with pytest.raises(Invalid) as refused:
        sign_off_cycle(
            cycle=quarterly, approver=approver, attestation="  I agree  ", summary_hash=digest
        )
    assert refused.value.errors["attestation"].startswith(
        "The attestation needs at least 10 characters (this one has 7)"
    )
    signed = sign_off_cycle(
        cycle=quarterly, approver=approver, attestation=" I agree: ok ", summary_hash=digest
    )
    assert signed.attestation == "I agree: ok" and signed.signed_summary_hash == digest


@pytest.mark.parametrize("severity", ["critical", "high"])
@pytest.mark.parametrize("kind", ["keep", "accept_risk", "false_positive"])
def test_keeping_or_setting_aside_a_critical_or_high_item_needs_twenty_characters(
    severity, kind, reviewer
):
    today = timezone.localdate()
    short = DecisionInput(kind, "abc", today + timedelta(days=30))
    with pytest.raises(Invalid) as refused:
        short.validate(actor=reviewer, today=today, severity=severity)
    assert refused.value.errors["justification"] == (
        f"{severity.capitalize()} items need a justification of at least 20 characters (this "
        "one has 3): say why, in words an auditor can follow."
    )
    DecisionInput(kind, f"  {'x' * 20}  ", today + timedelta(days=30)).validate(
        actor=reviewer, today=today, severity=severity
    )
    for lesser in ("medium", "low", ""):
        short.validate(actor=reviewer, today=today, severity=lesser)
    DecisionInput("remediate", "").validate(actor=reviewer, today=today, severity=severity)


def test_sign_off_is_refused_when_the_frozen_population_was_altered(quarterly, reviewer, approver):
    decide_all(quarterly, reviewer)
    ReviewItem.objects.filter(pk=item_of(quarterly, "bob").pk).update(evidence_hash="0" * 64)

    with pytest.raises(Forbidden, match="no longer matches"):
        sign_off_cycle(
            cycle=quarterly,
            approver=approver,
            attestation=ATTESTATION,
            summary_hash=sign_off_summary(cycle=quarterly).digest,
        )


def test_remediation_is_still_verified_after_sign_off(quarterly, production, reviewer, approver):
    decide_all(quarterly, reviewer)
    alice = item_of(quarterly, "alice")
    decide(alice, reviewer, DecisionInput("remediate"), expected=alice.latest_decision_id)
    sign_off_cycle(
        cycle=quarterly,
        approver=approver,
        attestation=ATTESTATION,
        summary_hash=sign_off_summary(cycle=quarterly).digest,
    )
    run = succeeded_run(production, Source.CREDENTIAL_REPORT)

    Finding.objects.filter(check_id="console-user-without-mfa").update(
        status=Finding.Status.RESOLVED, resolved_at=timezone.now(), resolved_by_run=run
    )

    assert verify_remediations(account=production) == 1
    alice.refresh_from_db()
    assert (alice.remediation, alice.verified_by_run) == ("verified", run)


def test_the_expiry_task_runs_and_brings_back_nothing_twice(quarterly, reviewer, monkeypatch):
    from findings.reviews.tasks import expire_risk_acceptances as task

    tomorrow = timezone.localdate() + timedelta(days=1)
    decide(
        item_of(quarterly, "alice"),
        reviewer,
        DecisionInput("accept_risk", "Until the vendor fix ships", tomorrow),
    )
    # Two days on (a decision's expiry is never rewritten: the database refuses it).
    today = timezone.localdate
    monkeypatch.setattr(timezone, "localdate", lambda *a, **kw: today(*a, **kw) + timedelta(2))

    assert task.delay().get() == 1
    assert task.delay().get() == 0


def test_an_expired_release_risk_returns_to_its_own_applications_review(
    production, reviewer, administrator
):
    from findings.models import ReviewCycle
    from findings.reviews.services import expire_risk_acceptances
    from tests.findings.reviews.test_evidence import iam_role

    checkout_role = iam_role(production, "checkout-api")
    iam_role(production, "billing-api")
    make_finding(production, "role-unused", checkout_role.arn, resource_type="role")
    checkout, _, _ = open_release_cycle(
        application="checkout",
        version="1.0",
        role_arns=[checkout_role.arn],
        notes="",
        opened_by=administrator,
    )
    item = checkout.items.get()
    decide_item(
        item=item,
        actor=reviewer,
        decision=DecisionInput(
            "accept_risk", "Until the rewrite of checkout", timezone.localdate() + timedelta(days=5)
        ),
        expected_latest_id=None,
    )
    billing, _, _ = open_release_cycle(
        application="billing",
        version="3.2",
        role_arns=[f"{checkout_role.arn[:-12]}billing-api"],
        notes="",
        opened_by=administrator,
    )

    returned = expire_risk_acceptances(today=timezone.localdate() + timedelta(days=6))

    assert len(returned) == 1
    assert returned[0].cycle != billing
    assert returned[0].cycle.application == "checkout"
    assert ReviewCycle.objects.filter(application="checkout").count() == 2


def test_an_accepted_risk_returned_to_a_release_cycle_is_not_read_as_named_by_it(
    production, reviewer, administrator
):
    """A release registered again is compared with the roles it named: an item of an
    accepted risk that came back to its cycle is not a role it stopped naming."""
    from findings.reviews.services import expire_risk_acceptances
    from tests.findings.reviews.test_evidence import iam_role

    api, worker = iam_role(production, "checkout-api"), iam_role(production, "checkout-worker")
    make_finding(production, "role-unused", api.arn, resource_type="role")
    first, _, _ = open_release_cycle(
        application="checkout", version="1.0", role_arns=[api.arn], notes="", opened_by=reviewer
    )
    decide(
        first.items.get(),
        reviewer,
        DecisionInput(
            "accept_risk", "Until the rewrite of checkout", timezone.localdate() + timedelta(days=5)
        ),
    )
    second, _, _ = open_release_cycle(
        application="checkout", version="2.0", role_arns=[worker.arn], notes="", opened_by=reviewer
    )
    [returned] = expire_risk_acceptances(today=timezone.localdate() + timedelta(days=6))
    assert returned.cycle == second

    again, created, changes = open_release_cycle(
        application="checkout", version="2.0", role_arns=[worker.arn], notes="", opened_by=reviewer
    )
    assert (again, created, bool(changes)) == (second, False, False)
    assert not AuditEntry.objects.filter(action="cycle.release_updated").exists()
