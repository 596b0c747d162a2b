"""Changed since frozen: computed once per detection and stored on the item, not per request."""

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from findings.models import CredentialReportEntry, IamRole, ReviewCycle, ReviewItem, Source
from findings.reviews.freshness import detect_and_refresh, refresh_freshness
from findings.reviews.services import DecisionInput, decide_item, open_cycle, sign_off_cycle
from findings.reviews.summary import sign_off_summary
from tests.at_once import at_once, waiting_for_locks
from tests.findings.reviews.test_evidence import succeeded_run
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


# --- What counts as a change: the reviewable substance, not the dates mere use moves ---------


def test_a_user_merely_signing_in_or_using_a_key_is_no_change(production):
    """Last-used dates move every day for every active person: were they a change, every item
    would carry the mark and a new policy or a new key would be lost among them."""
    now = timezone.now()
    credential_entry(
        production,
        "erin",
        access_key_1_active=True,
        access_key_1_last_rotated=now - timedelta(days=20),
        access_key_1_last_rotated_reason="",
        access_key_1_last_used_date=now - timedelta(days=2),
    )
    credential_entry(
        production, "frank", password_last_used=None, password_last_used_reason="no_information"
    )
    cycle = open_cycle(kind="quarterly", opened_by=None, accounts=[production])

    CredentialReportEntry.objects.filter(user="erin").update(
        password_last_used=now, access_key_1_last_used_date=now
    )
    CredentialReportEntry.objects.filter(user="frank").update(
        password_last_used=now, password_last_used_reason=""
    )

    assert refresh_freshness(account=production) == 0
    assert states(cycle) == {"erin": "", "frank": ""}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            {"access_key_2_active": True, "access_key_2_last_rotated": "now"}, id="new key"
        ),
        pytest.param({"access_key_1_last_rotated": "now"}, id="rotated key"),
        pytest.param({"access_key_1_active": False}, id="deactivated key"),
        pytest.param({"password_last_changed": "now"}, id="new password"),
        pytest.param({"password_enabled": False}, id="password removed"),
        pytest.param({"mfa_active": False}, id="mfa removed"),
    ],
)
def test_a_credential_created_rotated_or_removed_is_a_change(production, change):
    now = timezone.now()
    credential_entry(
        production,
        "erin",
        access_key_1_active=True,
        access_key_1_last_rotated=now - timedelta(days=20),
        access_key_1_last_rotated_reason="",
    )
    cycle = open_cycle(kind="quarterly", opened_by=None, accounts=[production])

    CredentialReportEntry.objects.filter(user="erin").update(
        **{field: now if value == "now" else value for field, value in change.items()}
    )

    refresh_freshness(account=production)
    assert states(cycle) == {"erin": "changed"}


def test_an_unused_key_used_again_is_a_change_through_its_finding(production):
    """Use is no change by itself, but what it does to a finding is: the key's "unused"
    finding resolving is a change in the finding set; a used key used again raises none."""
    now = timezone.now()
    credential_entry(
        production,
        "erin",
        access_key_1_active=True,
        access_key_1_last_rotated=now - timedelta(days=300),
        access_key_1_last_rotated_reason="",
        access_key_1_last_used_date=now - timedelta(days=200),
    )
    credential_entry(
        production,
        "frank",
        access_key_1_active=True,
        access_key_1_last_rotated=now - timedelta(days=30),
        access_key_1_last_rotated_reason="",
        access_key_1_last_used_date=now - timedelta(days=3),
    )
    succeeded_run(production, Source.CREDENTIAL_REPORT, at=now - timedelta(hours=1))
    detect_and_refresh(account=production)
    cycle = open_cycle(kind="quarterly", opened_by=None, accounts=[production])
    assert "access-key-unused" in [
        f["check"] for f in item_of(cycle, "erin").frozen_evidence["findings"]
    ]

    CredentialReportEntry.objects.filter(user__in=["erin", "frank"]).update(
        access_key_1_last_used_date=now
    )
    succeeded_run(production, Source.CREDENTIAL_REPORT)  # the next report, read since
    detect_and_refresh(account=production)

    assert states(cycle) == {"erin": "changed", "frank": ""}


def test_a_role_merely_assumed_is_no_change_but_a_new_policy_is(production, reviewer):
    from findings.reviews.releases import open_release_cycle
    from tests.findings.reviews.test_views import attach, role_with_policy, s3_policy

    api = role_with_policy(production, "api", s3_policy("s3:GetObject"))
    worker = role_with_policy(production, "worker", s3_policy("s3:GetObject"))
    cycle, _, _ = open_release_cycle(
        application="shop",
        version="2.4.0",
        role_arns=[api.arn, worker.arn],
        notes="",
        opened_by=reviewer,
    )

    IamRole.objects.filter(pk__in=[api.pk, worker.pk]).update(
        last_used_at=timezone.now(), last_used_region="us-east-1"
    )
    assert refresh_freshness(account=production) == 0

    attach(production, worker.arn, s3_policy("s3:*"))
    refresh_freshness(account=production)
    assert states(cycle) == {"api": "", "worker": "changed"}


def test_the_upgrade_command_clears_marks_an_older_comparison_left(production, cycle):
    """Marks set before the upgrade compared last-used dates too: until the account's next
    detection they would still say "changed"; the command re-marks every open cycle at once."""
    cycle.items.update(freshness=ReviewItem.Freshness.CHANGED)  # as bob's sign-in left them
    out = io.StringIO()

    call_command("refresh_freshness", stdout=out)

    assert states(cycle) == {"alice": "", "bob": "", "carol": ""}
    assert out.getvalue() == f"{production.account_id}: 3 item(s) re-marked\n"


def test_the_root_user_signing_in_again_is_a_change(production):
    """Root is meant never to be used: each sign-in is rare and a matter for the review, even
    when its "used lately" finding was already open when the cycle froze."""
    now = timezone.now()
    root = credential_entry(
        production,
        "<root_account>",
        arn=f"arn:aws:iam::{production.account_id}:root",
        password_enabled=None,
        password_last_used=now - timedelta(days=5),
    )
    credential_entry(production, "erin")
    cycle = open_cycle(kind="quarterly", opened_by=None, accounts=[production])

    CredentialReportEntry.objects.filter(user__in=["<root_account>", "erin"]).update(
        password_last_used=now
    )

    refresh_freshness(account=production)
    assert states(cycle) == {root.arn: "changed", "erin": ""}


def test_what_changed_is_named_and_worked_out_only_when_fresh_data_moves(production, cycle):
    now = timezone.now()
    changed = CredentialReportEntry.objects.get(user="bob").password_last_changed
    CredentialReportEntry.objects.filter(user="bob").update(mfa_active=False)
    CredentialReportEntry.objects.filter(user="carol").update(
        access_key_2_active=True, access_key_2_last_rotated=now, password_last_used=now
    )

    assert refresh_freshness(account=production) == 2
    changes = {i.subject_arn.rsplit("/", 1)[-1]: i.fresh_changes for i in cycle.items.all()}
    assert changes["alice"] is None
    assert changes["bob"]["parts"] == ["MFA"]
    assert changes["carol"]["parts"] == ["access key 2"]  # not her sign-in
    with CaptureQueriesContext(connection) as queries:
        assert refresh_freshness(account=production) == 0
    assert not [q for q in queries if "frozen_evidence" in q["sql"]]  # nothing to work out

    CredentialReportEntry.objects.filter(user="bob").update(password_last_changed=now)
    assert refresh_freshness(account=production) == 1
    assert item_of(cycle, "bob").fresh_changes["parts"] == ["MFA", "password"]

    CredentialReportEntry.objects.filter(user="bob").update(mfa_active=True)
    assert refresh_freshness(account=production) == 1
    assert item_of(cycle, "bob").fresh_changes["parts"] == ["password"]
    CredentialReportEntry.objects.filter(user="bob").update(password_last_changed=changed)
    assert refresh_freshness(account=production) == 1
    assert item_of(cycle, "bob").fresh_changes is None
