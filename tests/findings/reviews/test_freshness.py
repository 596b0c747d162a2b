"""Changed since frozen: computed once per detection and stored on the item, not per request."""

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from findings.models import CredentialReportEntry, ReviewCycle, ReviewItem
from findings.reviews.freshness import detect_and_refresh, refresh_freshness
from findings.reviews.services import DecisionInput, decide_item, open_cycle, sign_off_cycle
from findings.reviews.summary import sign_off_summary
from tests.at_once import at_once, waiting_for_locks
from tests.findings.reviews.test_views import credential_entry, item_of, make_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def production():
    return make_account()


@pytest.fixture
def cycle(production):
    for user in ("alice", "bob", "carol"):
        credential_entry(production, user)
    return open_cycle(kind="quarterly", opened_by=None, accounts=[production])


def states(cycle) -> dict[str, str]:
    return {item.subject_arn.rsplit("/", 1)[-1]: item.freshness for item in cycle.items.all()}


def test_a_new_cycle_matches_fresh_data_and_refreshing_it_writes_nothing(production, cycle):
    assert states(cycle) == {"alice": "", "bob": "", "carol": ""}
    assert refresh_freshness(account=production) == 0


def test_a_changed_user_is_marked_changed_and_a_removed_one_gone(production, cycle):
    CredentialReportEntry.objects.filter(user="bob").update(mfa_active=False)
    CredentialReportEntry.objects.filter(user="carol").update(gone_at=timezone.now())

    assert refresh_freshness(account=production) == 2
    assert states(cycle) == {"alice": "", "bob": "changed", "carol": "gone"}
    assert refresh_freshness(account=production) == 0  # nothing moved: no row written


def test_a_change_undone_clears_the_mark(production, cycle):
    CredentialReportEntry.objects.filter(user="bob").update(mfa_active=False)
    refresh_freshness(account=production)
    CredentialReportEntry.objects.filter(user="bob").update(mfa_active=True)

    refresh_freshness(account=production)
    assert item_of(cycle, "bob").freshness == ReviewItem.Freshness.SAME


def test_detection_brings_the_freshness_along_and_signed_off_cycles_are_left_alone(
    production, cycle
):
    cycle.state = "signed_off"
    cycle.save(update_fields=["state"])
    CredentialReportEntry.objects.filter(user="bob").update(mfa_active=False)

    detect_and_refresh(account=production)
    assert item_of(cycle, "bob").freshness == ""


def test_a_reviewers_own_exclusion_is_not_fresh_data(production, cycle, reviewer):
    """A false positive or an accepted risk excludes the item's findings: that is the
    reviewer's doing, not AWS's. The item must not read "fresh data no longer shows this"
    (an approver would take the access for removed); a finding AWS really stops showing
    still moves it."""
    from findings.models import Finding
    from tests.findings.reviews.test_views import decide, finding_on

    dave = credential_entry(production, "dave", mfa_active=False)
    finding = finding_on(dave)
    external = finding_on(dave, check="access-analyzer:ExternalAccess", severity="critical")
    Finding.objects.filter(pk=external.pk).update(resource_key="bucket", resource_arn="arn:b")
    quarterly = open_cycle(kind="quarterly", opened_by=None, accounts=[production])
    monthly = open_cycle(kind="monthly", opened_by=None, accounts=[production])
    decide(
        item_of(quarterly, "dave"),
        reviewer,
        kind="false_positive",
        justification="SSO enforces MFA at sign-in",
    )
    until = timezone.localdate() + timezone.timedelta(days=30)
    decide(
        monthly.items.get(),
        reviewer,
        kind="accept_risk",
        justification="Vendor contract until renewal",
        expires_on=until,
    )
    # What detection does with the exclusions the decisions made.
    Finding.objects.filter(pk__in=[finding.pk, external.pk]).update(status="excluded")

    refresh_freshness(account=production)
    assert item_of(quarterly, "dave").freshness == ""
    assert monthly.items.get().freshness == ""

    Finding.objects.filter(pk__in=[finding.pk, external.pk]).update(status="resolved")
    refresh_freshness(account=production)
    assert item_of(quarterly, "dave").freshness == "changed"
    assert monthly.items.get().freshness == "gone"


def test_a_finding_set_aside_before_or_after_a_cycle_opened_is_no_change(
    production, cycle, reviewer
):
    """The reviewer's exclusion counts as no change whether the cycle froze the finding
    (decided in another cycle, signed off since) or opened after it was set aside."""
    from findings.models import Finding, ReviewCycle
    from tests.findings.reviews.test_views import decide, finding_on

    dave = credential_entry(production, "dave", mfa_active=False)
    finding = finding_on(dave)
    earlier = open_cycle(kind="quarterly", opened_by=None, accounts=[production])
    deciding = open_cycle(kind="quarterly", opened_by=None, accounts=[production])
    decide(
        item_of(deciding, "dave"),
        reviewer,
        kind="false_positive",
        justification="SSO enforces MFA at sign-in",
    )
    Finding.objects.filter(pk=finding.pk).update(status="excluded")
    ReviewCycle.objects.filter(pk=deciding.pk).update(state=ReviewCycle.State.SIGNED_OFF)
    later = open_cycle(kind="quarterly", opened_by=None, accounts=[production])
    assert item_of(later, "dave").frozen_evidence["findings"] == []

    refresh_freshness(account=production)
    assert item_of(earlier, "dave").freshness == ""
    assert item_of(later, "dave").freshness == ""


def test_a_cycle_signed_off_while_detection_runs_does_not_break_the_detection(
    committed_db, administrator, reviewer, approver
):
    """Building a large account's population takes seconds; an approver signs off meanwhile.
    The detection's freshness must leave the signed cycle alone, not fail on its lock (the
    collection's detection would then skip the remediation check and right-sizing)."""
    account = make_account()
    for user in ("alice", "bob"):
        credential_entry(account, user)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    for item in cycle.items.all():
        decide_item(
            item=item,
            actor=reviewer,
            decision=DecisionInput("keep", "Needed for the on-call rota"),
            expected_latest_id=None,
        )
    CredentialReportEntry.objects.filter(user="bob").update(mfa_active=False)  # fresh data
    population_held, signed = threading.Event(), threading.Event()

    def approver_signs_while_the_population_is_built():
        with transaction.atomic():
            # The detection reads the open cycles' items, then waits here to build the
            # population: the approver signs in that time.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"LOCK TABLE {CredentialReportEntry._meta.db_table} IN ACCESS EXCLUSIVE MODE"
                )
            population_held.set()
            assert waiting_for_locks()
            sign_off_cycle(
                cycle=cycle,
                approver=approver,
                attestation="I reviewed the full population.",
                summary_hash=sign_off_summary(cycle=cycle).digest,
            )
        signed.set()

    def detection():
        population_held.wait(timeout=10)
        return refresh_freshness(account=account)

    outcomes = at_once(approver_signs_while_the_population_is_built, detection)

    assert signed.is_set()
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    cycle.refresh_from_db()
    assert cycle.state == ReviewCycle.State.SIGNED_OFF
    assert item_of(cycle, "bob").freshness == ReviewItem.Freshness.SAME  # locked as signed
