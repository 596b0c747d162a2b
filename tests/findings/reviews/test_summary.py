"""The approver's sign-off summary: what they attest to, signed against its hash; and the
evidence pack of the cycles they may sign off."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import LinkedIdentity
from findings.models import IamUser, ReviewCycle
from findings.reviews.services import DEFAULT_ATTESTATION
from findings.reviews.summary import sign_off_summary
from tests.findings.reviews.test_views import decide, item_of, login, quarterly_cycle, user_arn

pytestmark = pytest.mark.django_db


@pytest.fixture
def decided_cycle(reviewer, second_reviewer):
    """alice: accepted risk; bob: remediation (pending); carol: kept by a teammate."""
    cycle = quarterly_cycle(users=("alice", "bob", "carol", "dave"))
    until = timezone.localdate() + timedelta(days=60)
    decide(
        item_of(cycle, "alice"),
        reviewer,
        kind="accept_risk",
        justification="Vendor cut-over in Q1",
        expires_on=until,
    )
    decide(item_of(cycle, "bob"), reviewer, kind="remediate", justification="Remove the key")
    decide(item_of(cycle, "carol"), second_reviewer, justification="On-call account")
    return cycle


def test_the_summary_counts_decisions_and_lists_risks_remediations_deciders_and_open_items(
    decided_cycle, second_reviewer
):
    # Sam (second reviewer) is linked to an IAM user of the payments team, as is carol.
    now = timezone.now()
    for name in ("sam", "carol"):
        IamUser.objects.create(
            account=decided_cycle.items.first().account,
            arn=user_arn(name),
            name=name,
            user_id=f"AIDA{name.upper()}",
            path="/",
            create_date=now,
            tags={"team": "payments"},
            fingerprint="x",
            first_seen_at=now,
            changed_at=now,
        )
    LinkedIdentity.objects.create(user=second_reviewer, arn=user_arn("sam"))
    carol = item_of(decided_cycle, "carol")
    carol.frozen_evidence["facts"]["tags"] = {"team": "payments"}
    carol.save(update_fields=["frozen_evidence"])

    summary = sign_off_summary(cycle=decided_cycle)

    counts = {kind: count for kind, _, count in summary.counts}
    assert counts == {
        "keep": 1,
        "remediate": 1,
        "accept_risk": 1,
        "false_positive": 0,
        "delegate": 0,
    }
    [risk] = summary.accepted_risks
    assert risk.justification == "Vendor cut-over in Q1" and risk.expires_on is not None
    assert [line.title for line in summary.remediations_pending] == [
        item_of(decided_cycle, "bob").title
    ]
    assert [line.title for line in summary.still_open] == [item_of(decided_cycle, "dave").title]
    assert [(d.name, d.total) for d in summary.deciders] == [
        ("rita.reviewer@example.com", 2),
        ("sam.reviewer@example.com", 1),
    ]
    [conflict] = summary.conflicts_of_interest
    assert conflict.note == "their own team “payments”"


def test_a_link_removed_after_deciding_still_shows_the_team_conflict_in_the_summary(
    administrator, reviewer
):
    from findings.reviews.services import decide_item, open_cycle
    from tests.findings.reviews import test_evidence as ev

    account = ev.make_account()
    ev.credential_entry(account, "alice", password=True)
    ev.iam_user(account, "alice")  # team payments
    ev.iam_user(account, "rita")  # the reviewer's own IAM user, team payments too
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    link = LinkedIdentity.objects.create(user=reviewer, arn=ev.user_arn(account, "rita"))
    [item] = cycle.items.all()
    made = decide_item(
        item=item,
        actor=reviewer,
        decision=ev.keep("Needed by the payments on-call rota"),
        expected_latest_id=None,
    )
    assert made.decider_links == [ev.user_arn(account, "rita")]
    payments = ["their own team “payments”"]
    assert [c.note for c in sign_off_summary(cycle=cycle).conflicts_of_interest] == payments

    link.delete()  # another administrator removes it later (allowed, audited)

    # The decision recorded who the decider was linked to when deciding: the approver is
    # still told that a member of the payments team decided a payments user.
    assert [c.note for c in sign_off_summary(cycle=cycle).conflicts_of_interest] == payments


def test_an_approver_signs_against_the_summary_they_read(client, decided_cycle, reviewer, approver):
    decide(item_of(decided_cycle, "dave"), reviewer, justification="Checked")
    login(client, approver)
    page = client.get(f"/review/cycles/{decided_cycle.pk}/").content.decode()
    assert "Sign-off summary" in page and "Vendor cut-over in Q1" in page
    assert "Remediations waiting for verification" in page
    read = re.search(r'name="summary_hash" value="([0-9a-f]{64})"', page).group(1)

    # Someone decides again after the approver loaded the page: the summary changed.
    decide(item_of(decided_cycle, "bob"), reviewer, kind="keep", justification="Key is needed")
    url = f"/review/cycles/{decided_cycle.pk}/sign-off/"
    refusal = client.post(
        url, {"attestation": DEFAULT_ATTESTATION, "confirm": "on", "summary_hash": read}
    )
    assert refusal.status_code == 302  # shown once at the cycle's page: a reload signs nothing
    stale = client.get(refusal.url)
    assert "The cycle changed after you loaded this page" in stale.content.decode()
    assert ReviewCycle.objects.get(pk=decided_cycle.pk).state == "open"
    # The confirmation was of the summary read before: ticked again for the one shown now.
    box = re.search(r'<input type="checkbox" name="confirm"[^>]*>', stale.content.decode()).group(0)
    assert "checked" not in box

    fresh = re.search(r'name="summary_hash" value="([0-9a-f]{64})"', stale.content.decode())
    client.post(
        url,
        {"attestation": DEFAULT_ATTESTATION, "confirm": "on", "summary_hash": fresh.group(1)},
    )
    decided_cycle.refresh_from_db()
    assert decided_cycle.state == "signed_off"
    assert decided_cycle.signed_summary_hash == fresh.group(1) != read


def test_an_approver_downloads_the_evidence_of_a_cycle_they_may_sign_off(
    client, decided_cycle, reviewer, approver
):
    url = f"/review/cycles/{decided_cycle.pk}/evidence.zip"
    login(client, approver)
    assert client.get(url).status_code == 403  # dave is still undecided
    assert "evidence.zip" not in client.get(f"/review/cycles/{decided_cycle.pk}/").content.decode()

    decide(item_of(decided_cycle, "dave"), reviewer, justification="Checked")
    assert "evidence.zip" in client.get(f"/review/cycles/{decided_cycle.pk}/").content.decode()
    response = client.get(url)
    assert response.status_code == 200 and response.content[:2] == b"PK"


def test_the_evidence_pack_holds_the_summary_the_approver_signed(
    client, decided_cycle, reviewer, approver
):
    import json

    from findings.reviews.evidence_pack import build_evidence_pack
    from findings.reviews.services import sign_off_cycle

    decide(item_of(decided_cycle, "dave"), reviewer, justification="Checked")
    signed = sign_off_cycle(
        cycle=decided_cycle,
        approver=approver,
        attestation="Reviewed in full.",
        summary_hash=sign_off_summary(cycle=decided_cycle).digest,
    )
    pack = build_evidence_pack(cycle=signed)
    summary = json.loads(pack.files["sign_off_summary.json"])
    cycle = json.loads(pack.files["cycle.json"])["cycle"]
    assert (
        summary["digest"] == cycle["sign_off"]["signed_summary_hash"] == signed.signed_summary_hash
    )
    assert summary["accepted_risks"][0]["justification"] == "Vendor cut-over in Q1"
    assert "sign_off_summary.json" in pack.manifest["files"]


def test_a_decision_changed_without_moving_a_count_still_changes_the_digest(
    decided_cycle, reviewer
):
    """Two decisions swapped between items leave every count as it was; the approver read the
    summary before, so signing against it must be refused."""
    decide(item_of(decided_cycle, "dave"), reviewer, kind="false_positive", justification="FP")
    read = sign_off_summary(cycle=decided_cycle).digest
    decide(item_of(decided_cycle, "carol"), reviewer, kind="false_positive", justification="FP")
    decide(item_of(decided_cycle, "dave"), reviewer, justification="On-call account")
    assert sign_off_summary(cycle=decided_cycle).digest != read


def test_a_cycle_whose_last_items_got_no_response_shows_the_approver_the_summary_and_form(
    client, settings, decided_cycle, reviewer, approver, auditor
):
    """Undecided items marked "no response" at the due date are shown, not waited for: the
    approver gets the summary and the sign-off form (it was a 500)."""
    from findings.reviews.services import mark_no_response

    settings.REVIEW_AT_DUE = {**settings.REVIEW_AT_DUE, "quarterly": "no_response"}
    ReviewCycle.objects.filter(pk=decided_cycle.pk).update(
        due_on=timezone.localdate() - timedelta(days=1)
    )
    assert mark_no_response() == 1  # dave
    login(client, approver)
    page = client.get(f"/review/cycles/{decided_cycle.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Sign-off summary" in text and 'name="summary_hash"' in text
    assert "Waiting for sign-off" in text
    login(client, auditor)
    text = client.get(f"/review/cycles/{decided_cycle.pk}/").content.decode()
    assert "still wait" not in text and "an approver can sign the cycle off" in text


def test_roles_a_release_named_but_nobody_holds_are_in_the_summary_the_approver_signs(
    client, reviewer, approver
):
    from findings.reviews.releases import open_release_cycle
    from tests.findings.reviews.test_evidence import iam_role, make_account

    production = make_account()
    missing = "arn:aws:iam::111122223333:role/does-not-exist"
    cycle, _, _ = open_release_cycle(
        application="checkout",
        version="2.15.0",
        role_arns=[iam_role(production).arn, missing],
        notes="",
        opened_by=reviewer,
    )
    decide(cycle.items.get(), reviewer, justification="Reviewed the diff")
    summary = sign_off_summary(cycle=cycle)
    assert summary.not_reviewed == [missing]
    login(client, approver)
    text = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    section = text[text.index("Sign-off summary") :]
    assert "1 role named by the release but not reviewed" in section and missing in section


def test_a_cycle_signed_against_the_first_digest_still_matches_it(decided_cycle, reviewer):
    """The digest gained each decision and the roles not reviewed; a cycle signed before that
    still shows, and exports, the hash it was signed against."""
    from findings.reviews.summary import _digest

    decide(item_of(decided_cycle, "dave"), reviewer, justification="Checked")
    first = _digest(sign_off_summary(cycle=decided_cycle), version=1)
    ReviewCycle.objects.filter(pk=decided_cycle.pk).update(
        state="signed_off", signed_summary_hash=first
    )
    decided_cycle.refresh_from_db()
    assert sign_off_summary(cycle=decided_cycle).digest == first


def _payments_cycle_decided_by(reviewer, administrator):
    """alice (team payments) kept by the reviewer, linked to rita (team payments too)."""
    from findings.reviews.services import decide_item, open_cycle
    from tests.findings.reviews import test_evidence as ev

    account = ev.make_account()
    ev.credential_entry(account, "alice", password=True)
    ev.iam_user(account, "alice")  # team payments
    rita = ev.iam_user(account, "rita")  # the reviewer's own IAM user
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[account])
    LinkedIdentity.objects.create(user=reviewer, arn=rita.arn)
    return cycle, rita, decide_item


def test_the_team_conflict_is_judged_by_the_decider_s_team_when_they_decided(
    administrator, reviewer
):
    from tests.findings.reviews import test_evidence as ev

    cycle, rita, decide_item = _payments_cycle_decided_by(reviewer, administrator)
    [item] = cycle.items.all()
    made = decide_item(
        item=item,
        actor=reviewer,
        decision=ev.keep("Needed by the payments on-call rota"),
        expected_latest_id=None,
    )
    assert made.decider_teams == ["payments"]

    # Rita moves to another team after deciding (the next collection reads her new tag): the
    # approver is still told that a member of the payments team decided a payments user.
    IamUser.objects.filter(pk=rita.pk).update(tags={"team": "platform"})
    notes = [c.note for c in sign_off_summary(cycle=cycle).conflicts_of_interest]
    assert notes == ["their own team “payments”"]


def test_joining_the_subject_s_team_after_deciding_is_no_conflict_of_that_decision(
    administrator, reviewer
):
    from tests.findings.reviews import test_evidence as ev

    cycle, rita, decide_item = _payments_cycle_decided_by(reviewer, administrator)
    IamUser.objects.filter(pk=rita.pk).update(tags={"team": "platform"})
    [item] = cycle.items.all()
    made = decide_item(
        item=item,
        actor=reviewer,
        decision=ev.keep("Needed by the payments on-call rota"),
        expected_latest_id=None,
    )
    assert made.decider_teams == ["platform"]

    IamUser.objects.filter(pk=rita.pk).update(tags={"team": "payments"})
    assert sign_off_summary(cycle=cycle).conflicts_of_interest == []


def test_a_decision_recorded_before_teams_were_kept_goes_by_today_s_tags(administrator, reviewer):
    from findings.models import Decision

    cycle, rita, _decide_item = _payments_cycle_decided_by(reviewer, administrator)
    [item] = cycle.items.all()
    # A decision as those made before migration 0043 are: its links, no teams recorded.
    made = Decision.objects.create(
        item=item,
        kind="keep",
        justification="Needed by the payments on-call rota",
        decided_by=reviewer,
        decided_at=timezone.now(),
        decider_links=[rita.arn],
    )
    assert made.decider_teams is None
    item.latest_decision, item.is_decided = made, True
    item.save(update_fields=["latest_decision", "is_decided"])

    notes = [c.note for c in sign_off_summary(cycle=cycle).conflicts_of_interest]
    assert notes == ["their own team “payments”"]


def test_a_role_gone_from_the_inventory_when_its_release_is_registered_again_is_still_reviewed(
    reviewer,
):
    """The role's item was frozen when the release was first registered: a pipeline's retry
    after the role left the inventory (deleted, or its account's collection not yet back)
    finds it unknown, yet the cycle reviews it. The approver must not read it as not
    reviewed."""
    from findings.models import IamRole
    from findings.reviews.releases import open_release_cycle
    from tests.findings.reviews.test_evidence import iam_role, make_account

    production = make_account()
    roles = [iam_role(production, "api").arn, iam_role(production, "worker").arn]
    cycle, _, _ = open_release_cycle(
        application="checkout",
        version="2.15.0",
        role_arns=roles,
        notes="",
        opened_by=reviewer,
    )
    for item in cycle.items.all():
        decide(item, reviewer, justification="Reviewed the diff")
    IamRole.objects.filter(arn=roles[1]).update(gone_at=timezone.now())

    again, created, changes = open_release_cycle(
        application="checkout",
        version="2.15.0",
        role_arns=roles,
        notes="",
        opened_by=reviewer,
    )

    assert (again.pk, created) == (cycle.pk, False)
    assert not changes, changes.describe()
    assert again.unknown_role_arns == []
    assert sign_off_summary(cycle=again).not_reviewed == []


@pytest.fixture
def kept_release(reviewer):
    """A release's worker role, frozen with s3:GetObject and kept by the reviewer."""
    from findings.reviews.releases import open_release_cycle
    from tests.findings.reviews.test_views import make_account, role_with_policy, s3_policy

    account = make_account()
    worker = role_with_policy(account, "worker", s3_policy("s3:GetObject"))
    cycle = open_release_cycle(
        application="shop", version="2.4.0", role_arns=[worker.arn], notes="", opened_by=reviewer
    ).cycle
    decide(cycle.items.get(), reviewer, justification="Reads the catalogue bucket")
    return cycle


def test_a_decided_role_changed_since_frozen_is_named_in_the_summary_the_approver_signs(
    client, kept_release, reviewer, approver, django_assert_max_num_queries
):
    """s3:* attached after the worker was kept: the item's "Fresh data changed" mark knew, the
    summary the approver signs said nothing, and the release shipped with s3:*."""
    from findings.reviews.freshness import refresh_freshness
    from findings.reviews.services import Invalid, sign_off_cycle
    from findings.reviews.summary import ChangedLine
    from tests.findings.reviews.test_views import edit_policy, s3_policy

    item = kept_release.items.get()
    read = sign_off_summary(cycle=kept_release).digest
    edit_policy(item.account, item.subject_arn, s3_policy("s3:*"))
    refresh_freshness(account=item.account)  # as the account's next detection does

    with django_assert_max_num_queries(3):  # the fields are on the items already read
        summary = sign_off_summary(cycle=kept_release)
    assert summary.changed_since_frozen == [
        ChangedLine(
            item_id=item.pk,
            title=item.title,
            decided_by=reviewer.display_name,
            decision="keep",
            freshness="changed",
            changes=["policies"],
        )
    ]
    # Read before the change, the summary is not what would be signed: read it again.
    assert summary.digest != read
    with pytest.raises(Invalid) as refused:
        sign_off_cycle(
            cycle=kept_release,
            approver=approver,
            attestation=DEFAULT_ATTESTATION,
            summary_hash=read,
        )
    assert set(refused.value.errors) == {"summary"}

    login(client, approver)
    text = client.get(f"/review/cycles/{kept_release.pk}/").content.decode()
    section = text[text.index("Sign-off summary") :]
    assert "1 decided item changed since the cycle froze it" in section
    assert f"{item.title}</a>: changed (policies)" in section
    assert f"keep by {reviewer.display_name}" in section

    signed = sign_off_cycle(
        cycle=kept_release,
        approver=approver,
        attestation="Reviewed, s3:* included.",
        summary_hash=summary.digest,
    )
    [line] = signed.signed_summary["changed_since_frozen"]
    assert (line["item_id"], line["changes"]) == (item.pk, ["policies"])


def test_a_decided_role_gone_from_fresh_data_is_named_in_the_summary(kept_release):
    from findings.models import IamRole
    from findings.reviews.freshness import refresh_freshness

    item = kept_release.items.get()
    read = sign_off_summary(cycle=kept_release)
    assert read.changed_since_frozen == []
    IamRole.objects.filter(arn=item.subject_arn).update(gone_at=timezone.now())
    refresh_freshness(account=item.account)

    summary = sign_off_summary(cycle=kept_release)
    [line] = summary.changed_since_frozen
    assert (line.item_id, line.freshness, line.changes) == (item.pk, "gone", [])
    assert summary.digest != read.digest


def test_undecided_items_that_changed_are_left_to_the_still_open_list(decided_cycle):
    """The list is of decisions made on evidence fresh data no longer shows; an item nobody
    decided is still open, whatever fresh data says."""
    from findings.models import ReviewItem

    dave = item_of(decided_cycle, "dave")
    ReviewItem.objects.filter(pk=dave.pk).update(freshness="changed")

    summary = sign_off_summary(cycle=decided_cycle)

    assert summary.changed_since_frozen == []
    assert [line.item_id for line in summary.still_open] == [dave.pk]


def test_a_cycle_signed_against_the_second_digest_still_matches_it(decided_cycle, reviewer):
    """The digest gained the items changed since frozen (version 3); a cycle signed before,
    whose stored summary has no such list, still matches the hash it was signed against."""
    from findings.reviews.summary import _digest, digest_against, summary_document

    decide(item_of(decided_cycle, "dave"), reviewer, justification="Checked")
    summary = sign_off_summary(cycle=decided_cycle)
    second = _digest(summary, version=2)
    assert second != summary.digest
    stored = summary_document(summary=summary)
    del stored["changed_since_frozen"]  # as sign-off stored it before version 3
    ReviewCycle.objects.filter(pk=decided_cycle.pk).update(
        state="signed_off", signed_summary_hash=second, signed_summary=stored
    )
    decided_cycle.refresh_from_db()
    assert digest_against(document=stored, signed_hash=second) == second
    assert sign_off_summary(cycle=decided_cycle).digest == second
