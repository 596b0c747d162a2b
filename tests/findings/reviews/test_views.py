"""The review pages: cycles, queues, decisions, bulk, assignment, sign-off, audit log.

Data is built as collection would leave it (evidence rows and findings), then cycles are opened
with the domain functions, so the pages show what a real cycle froze.
"""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from accounts.models import LinkedIdentity
from accounts.permissions import Role
from findings.collection.registry import add_account
from findings.models import (
    AuditEntry,
    CredentialReportEntry,
    Decision,
    Finding,
    IamRole,
    PolicyAttachment,
    PolicyDocument,
    ReviewCycle,
    ReviewItem,
)
from findings.models.findings import SEVERITY_RANK
from findings.policy.documents import document_hash
from findings.reviews.freshness import detect_and_refresh
from findings.reviews.releases import open_release_cycle
from findings.reviews.services import (
    DEFAULT_ATTESTATION,
    DecisionInput,
    assign_items,
    decide_item,
    default_risk_expiry,
    open_cycle,
    sign_off_cycle,
)
from findings.reviews.summary import sign_off_summary
from tests.conftest import make_person

pytestmark = pytest.mark.django_db

ACCOUNT_ID = "111122223333"
# Long enough for a critical or high item (at least 20 characters).
STILL_NEEDED = "Still needed by the on-call rota"
HTMX = {"HX-Request": "true"}


# --- Builders -----------------------------------------------------------------------------------


def make_account(account_id: str = ACCOUNT_ID, name: str = "Production"):
    return add_account(account_id=account_id, name=name, regions=["us-east-1"])


def user_arn(name: str, account_id: str = ACCOUNT_ID) -> str:
    return f"arn:aws:iam::{account_id}:user/{name}"


def credential_entry(account, user: str, **overrides) -> CredentialReportEntry:
    now = timezone.now()
    fields = {
        "account": account,
        "fingerprint": "x",
        "first_seen_at": now,
        "changed_at": now,
        "user": user,
        "arn": user_arn(user, account.account_id),
        "user_creation_time": now - timedelta(days=400),
        "password_enabled": True,
        "password_last_used": now - timedelta(days=3),
        "password_last_changed": now - timedelta(days=100),
        "mfa_active": True,
        "access_key_1_active": False,
        "access_key_1_last_rotated_reason": "N/A",
        "access_key_2_active": False,
        "cert_1_active": False,
        "cert_2_active": False,
    }
    fields.update(overrides)
    return CredentialReportEntry.objects.create(**fields)


def finding_on(entry, *, check: str = "mfa-missing", severity: str = "high") -> Finding:
    now = timezone.now()
    return Finding.objects.create(
        account=entry.account,
        check_id=check,
        resource_key=entry.arn,
        resource_arn=entry.arn,
        resource_type="user",
        resource_name=entry.user,
        title="Console password without MFA",
        severity=severity,
        severity_rank=SEVERITY_RANK[severity],
        severity_reason="Console access without a second factor",
        evidence={"why": f"{entry.user} signs in with a password and no MFA device."},
        evidence_fingerprint="x",
        rule_version="1",
        thresholds={},
        first_seen_at=now,
        last_seen_at=now,
    )


def quarterly_cycle(users=("alice", "bob", "carol"), with_findings=("alice",)) -> ReviewCycle:
    account = make_account()
    for user in users:
        entry = credential_entry(account, user, mfa_active=user not in with_findings)
        if user in with_findings:
            finding_on(entry)
    return open_cycle(kind="quarterly", opened_by=None, period="2026-Q4")


def many_users_cycle(count: int, *, account_id: str = ACCOUNT_ID) -> ReviewCycle:
    account = make_account(account_id, f"Account {account_id}")
    now = timezone.now()
    CredentialReportEntry.objects.bulk_create(
        [
            CredentialReportEntry(
                account=account,
                fingerprint="x",
                first_seen_at=now,
                changed_at=now,
                user=f"user{n:03}",
                arn=user_arn(f"user{n:03}", account_id),
                user_creation_time=now - timedelta(days=100),
                password_enabled=True,
                mfa_active=True,
                access_key_1_active=False,
                access_key_2_active=False,
                cert_1_active=False,
                cert_2_active=False,
            )
            for n in range(count)
        ]
    )
    return open_cycle(kind="quarterly", opened_by=None, accounts=[account])


def item_of(cycle: ReviewCycle, user: str) -> ReviewItem:
    return cycle.items.get(subject_arn__endswith=f":user/{user}")


def decide(item, actor, kind="keep", justification="Needed for the on-call rota", **extra):
    return decide_item(
        item=ReviewItem.objects.get(pk=item.pk),
        actor=actor,
        decision=DecisionInput(kind=kind, justification=justification, **extra),
        expected_latest_id=ReviewItem.objects.get(pk=item.pk).latest_decision_id,
    )


def decide_all(cycle, actor):
    for item in cycle.items.all():
        decide(item, actor)


def role_with_policy(account, name: str, document: dict) -> IamRole:
    now = timezone.now()
    arn = f"arn:aws:iam::{account.account_id}:role/{name}"
    role = IamRole.objects.create(
        account=account,
        fingerprint="x",
        first_seen_at=now,
        changed_at=now,
        arn=arn,
        name=name,
        role_id=f"AROA{name.upper()}",
        path="/",
        create_date=now - timedelta(days=30),
        last_used_at=now - timedelta(days=2),
        last_used_region="eu-west-1",
    )
    attach(account, arn, document)
    return role


def attach(account, arn: str, document: dict) -> PolicyAttachment:
    now = timezone.now()
    sha = document_hash(document=document)
    stored, _ = PolicyDocument.objects.get_or_create(
        sha256=sha, defaults={"document": document, "first_seen_at": now}
    )
    return PolicyAttachment.objects.create(
        account=account,
        fingerprint=sha,
        first_seen_at=now,
        changed_at=now,
        principal_arn=arn,
        principal_type="role",
        kind="inline",
        policy_ref="app",
        policy_name="app",
        document_sha256=sha,
        document=stored,
    )


def edit_policy(account, arn: str, document: dict) -> PolicyAttachment:
    """The principal's inline policy "app" rewritten (attach adds a second one of that name:
    which of the two a reading keeps is the database's choice)."""
    PolicyAttachment.objects.filter(account=account, principal_arn=arn, policy_ref="app").delete()
    return attach(account, arn, document)


def s3_policy(*actions: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }


def post_decision(client, item, **data):
    payload = {"expected_latest_id": item.latest_decision_id or "", **data}
    return client.post(f"/review/items/{item.pk}/decide/", payload, headers=HTMX)


def login(client, user) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def cycle(db):
    return quarterly_cycle()


@pytest.fixture
def reviewer_approver(db):
    return make_person("dual.role@example.com", Role.REVIEWER, Role.APPROVER)


# --- Who may see and do what ----------------------------------------------------------------


def test_every_role_reads_the_review_pages_and_an_outsider_gets_403(
    client, cycle, administrator, reviewer, approver, auditor, outsider
):
    item = item_of(cycle, "alice")
    for person in (administrator, reviewer, approver, auditor):
        login(client, person)
        for url in ("/review/", f"/review/cycles/{cycle.pk}/", f"/review/items/{item.pk}/"):
            assert client.get(url).status_code == 200, (person, url)
    login(client, outsider)
    for url in ("/review/", f"/review/cycles/{cycle.pk}/", f"/review/items/{item.pk}/"):
        assert client.get(url).status_code == 403


def test_anonymous_visitor_is_sent_to_log_in(client, cycle):
    response = client.get(f"/review/cycles/{cycle.pk}/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_a_reviewer_decides_but_an_approver_auditor_or_outsider_cannot(
    client, cycle, reviewer, approver, auditor, outsider
):
    item = item_of(cycle, "alice")
    for person in (approver, auditor, outsider):
        login(client, person)
        response = post_decision(client, item, decision="keep", justification=STILL_NEEDED)
        assert response.status_code == 403, person
    assert Decision.objects.count() == 0
    login(client, reviewer)
    response = post_decision(client, item, decision="keep", justification=STILL_NEEDED)
    assert response.status_code == 200
    assert Decision.objects.get().decided_by == reviewer


def test_an_auditor_reads_the_queue_and_evidence_without_any_form(client, cycle, auditor):
    login(client, auditor)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert "bulk-form" not in page
    assert 'name="items"' not in page
    assert "Download evidence pack" in page
    item = client.get(f"/review/items/{item_of(cycle, 'alice').pk}/").content.decode()
    assert "decision-form" not in item
    assert "Reviewers decide items" in item


def test_the_evidence_pack_is_for_auditors_and_administrators(
    client, cycle, reviewer, approver, auditor, administrator
):
    url = f"/review/cycles/{cycle.pk}/evidence.zip"
    for person in (reviewer, approver):
        login(client, person)
        assert client.get(url).status_code == 403
    for person in (auditor, administrator):
        login(client, person)
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/zip"
        assert response["Content-Disposition"].startswith("attachment;")
        assert response.content[:2] == b"PK"


def test_posts_without_a_csrf_token_are_refused(cycle, reviewer, administrator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    item = item_of(cycle, "bob")
    response = client.post(
        f"/review/items/{item.pk}/decide/", {"decision": "keep", "justification": "x"}
    )
    assert response.status_code == 403
    response = client.post(
        f"/review/cycles/{cycle.pk}/bulk/",
        {"items": [item.pk], "decision": "keep", "justification": "x"},
    )
    assert response.status_code == 403
    client.force_login(administrator)
    assert client.post("/review/open/", {"kind": "monthly", "scope": "all"}).status_code == 403
    assert Decision.objects.count() == 0
    assert ReviewCycle.objects.count() == 1


def test_every_form_on_the_cycle_page_carries_a_csrf_token(client, reviewer):
    cycle = many_users_cycle(2)
    decide_all(cycle, reviewer)
    approver = make_person("ann.approver@example.com", Role.APPROVER)
    for person in (reviewer, approver):
        login(client, person)
        page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
        posts = page.count('method="post"')
        assert posts >= 2  # log out + bulk (reviewer) or sign-off (approver)
        assert page.count('name="csrfmiddlewaretoken"') >= posts - 1  # log out: hx-headers too


# --- The list of cycles -----------------------------------------------------------------------


def test_open_cycles_come_first_with_progress_and_the_overdue_ones_marked(
    client, reviewer, approver
):
    signed = many_users_cycle(1, account_id="999988887777")
    decide_all(signed, reviewer)
    sign_off_cycle(
        cycle=signed,
        approver=approver,
        attestation=DEFAULT_ATTESTATION,
        summary_hash=sign_off_summary(cycle=signed).digest,
    )
    late = many_users_cycle(3)
    ReviewCycle.objects.filter(pk=late.pk).update(
        due_on=timezone.localdate() - timedelta(days=2), title="Late review"
    )
    decide(late.items.first(), reviewer)
    login(client, reviewer)
    page = client.get("/review/").content.decode()
    assert page.index("Late review") < page.index(signed.title)
    assert 'max="3" value="1"' in page
    assert "1 / 3 decided" in page
    assert "Overdue" in page
    assert "In review" in page
    late_row = page[page.index("Late review") : page.index("Late review") + 2000]
    assert "Overdue" in late_row
    signed_section = page[page.index('id="signed-heading"') :]
    assert signed.title in signed_section and "Overdue" not in signed_section


def test_a_cycle_with_every_item_decided_waits_for_sign_off(client, reviewer):
    cycle = many_users_cycle(2)
    decide_all(cycle, reviewer)
    login(client, reviewer)
    assert "Waiting for sign-off" in client.get("/review/").content.decode()
    assert "Waiting for sign-off" in client.get(f"/review/cycles/{cycle.pk}/").content.decode()


def test_the_list_of_cycles_takes_a_fixed_number_of_queries(
    client, reviewer, django_assert_max_num_queries
):
    for n in range(2):
        many_users_cycle(2, account_id=f"10000000000{n}")
    login(client, reviewer)
    client.get("/review/")  # warm the session and permission caches
    with django_assert_max_num_queries(12) as few:
        assert client.get("/review/").status_code == 200
    for n in range(2, 10):
        many_users_cycle(2, account_id=f"10000000000{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get("/review/")
    assert page.content.decode().count("cycle-title") == 10


def test_an_administrator_opens_a_cycle_for_selected_accounts(client, administrator):
    production = make_account()
    staging = make_account("444455556666", "Staging")
    credential_entry(production, "alice")
    credential_entry(staging, "bob")
    login(client, administrator)
    page = client.get("/review/").content.decode()
    assert "Open a cycle by hand" in page
    response = client.post(
        "/review/open/", {"kind": "quarterly", "scope": "selected", "accounts": [staging.pk]}
    )
    cycle = ReviewCycle.objects.get()
    assert response.status_code == 302 and response.url == f"/review/cycles/{cycle.pk}/"
    assert list(cycle.scope_accounts.all()) == [staging]
    assert [item.subject_arn for item in cycle.items.all()] == [user_arn("bob", "444455556666")]
    assert cycle.opened_by == administrator


def test_opening_a_cycle_already_open_for_those_accounts_asks_first(client, administrator):
    """A second click, or not knowing the schedule opened this period's cycle, would put every
    item in front of reviewers twice: the form names the open cycle and asks."""
    production = make_account()
    staging = make_account("444455556666", "Staging")
    credential_entry(production, "alice")
    credential_entry(staging, "bob")
    login(client, administrator)
    client.post("/review/open/", {"kind": "quarterly", "scope": "all"})
    first = ReviewCycle.objects.get()

    again = client.post("/review/open/", {"kind": "quarterly", "scope": "all"})
    page = again.content.decode()
    assert again.status_code == 200 and ReviewCycle.objects.count() == 1
    assert f"Already open for these accounts: “{first.title}”" in page
    assert 'name="open_another"' in page
    # Another kind, or a cycle signed off, is no reason to ask.
    assert client.post("/review/open/", {"kind": "monthly", "scope": "all"}).status_code == 302
    # Selected accounts meet a cycle of every account; ticking the box opens it.
    selected = {"kind": "quarterly", "scope": "selected", "accounts": [staging.pk]}
    assert client.post("/review/open/", selected).status_code == 200
    confirmed = client.post("/review/open/", {**selected, "open_another": "on"})
    assert confirmed.status_code == 302
    assert ReviewCycle.objects.filter(kind="quarterly").count() == 2
    ReviewCycle.objects.filter(pk=first.pk).update(state=ReviewCycle.State.SIGNED_OFF)
    # Production alone does not meet the Staging-only cycle still open.
    only_production = {"kind": "quarterly", "scope": "selected", "accounts": [production.pk]}
    assert client.post("/review/open/", only_production).status_code == 302


def test_an_account_added_after_an_every_account_cycle_opened_is_not_in_it(client, administrator):
    """A cycle of every account froze the accounts it had: one added since has no item in it,
    so a cycle for that account alone asks nothing."""
    production = make_account()
    credential_entry(production, "alice")
    login(client, administrator)
    client.post("/review/open/", {"kind": "quarterly", "scope": "all"})
    sample = make_account("444455556666", "Sample")
    credential_entry(sample, "bob")

    only_sample = {"kind": "quarterly", "scope": "selected", "accounts": [sample.pk]}
    assert client.post("/review/open/", only_sample).status_code == 302
    only_production = {"kind": "quarterly", "scope": "selected", "accounts": [production.pk]}
    assert client.post("/review/open/", only_production).status_code == 200


def test_selected_scope_without_accounts_is_explained_next_to_the_field(client, administrator):
    make_account()
    login(client, administrator)
    response = client.post("/review/open/", {"kind": "monthly", "scope": "selected"})
    assert response.status_code == 200
    assert "Choose at least one account" in response.content.decode()
    assert not ReviewCycle.objects.exists()


def test_only_administrators_open_cycles_by_hand(client, reviewer):
    login(client, reviewer)
    assert "Open a cycle by hand" not in client.get("/review/").content.decode()
    response = client.post("/review/open/", {"kind": "monthly", "scope": "all"})
    assert response.status_code == 403


def test_a_reviewer_registers_a_release_and_sees_the_unknown_roles_prominently(client, reviewer):
    account = make_account()
    role = role_with_policy(account, "checkout-api", s3_policy("s3:GetObject"))
    unknown = "arn:aws:iam::111122223333:role/typo-role"
    login(client, reviewer)
    response = client.post(
        "/review/releases/",
        {
            "application": "checkout",
            "version": "2.4.0",
            "role_arns": f"{role.arn}\n\n{unknown}\n",
            "notes": "Adds receipts",
        },
    )
    cycle = ReviewCycle.objects.get(kind="release")
    assert response.url == f"/review/cycles/{cycle.pk}/"
    page = client.get(response.url).content.decode()
    assert "1 role ARN not in the inventory" in page
    assert unknown in page
    assert "not reviewed" in page
    assert "checkout 2.4.0" in page
    assert cycle.items.get().subject_arn == role.arn
    assert "Registered Release checkout 2.4.0: 1 role to review." in page

    # The form sent again (a double click, Back and resend): the same open cycle.
    again = client.post(
        "/review/releases/",
        {"application": "checkout", "version": "2.4.0", "role_arns": f"{unknown}\n{role.arn}"},
        follow=True,
    )
    assert ReviewCycle.objects.filter(kind="release").count() == 1
    assert again.redirect_chain[-1][0] == f"/review/cycles/{cycle.pk}/"
    assert "was already registered with these roles" in again.content.decode()

    # Sent without the unknown role: the same cycle, told what changed.
    fixed = client.post(
        "/review/releases/",
        {"application": "checkout", "version": "2.4.0", "role_arns": role.arn},
        follow=True,
    )
    assert ReviewCycle.objects.filter(kind="release").count() == 1
    assert fixed.redirect_chain[-1][0] == f"/review/cycles/{cycle.pk}/"
    assert (
        "Release checkout 2.4.0 is still in review, here: no second cycle was opened. This "
        f"registration changed its roles: 1 role no longer reported as not reviewed ({unknown})."
    ) in message_texts(fixed)
    assert "not in the inventory" not in fixed.content.decode()


def test_a_signed_off_release_version_is_not_registered_again(client, reviewer, approver):
    account = make_account()
    role = role_with_policy(account, "checkout-api", s3_policy("s3:GetObject"))
    release = {"application": "checkout", "version": "2.4.0", "role_arns": role.arn}
    cycle, _, _ = open_release_cycle(
        **{**release, "role_arns": [role.arn]}, notes="", opened_by=reviewer
    )
    decide_all(cycle, reviewer)
    sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation=DEFAULT_ATTESTATION,
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )
    other = role_with_policy(account, "checkout-admin", s3_policy("s3:*"))
    login(client, reviewer)
    response = client.post(
        "/review/releases/", {**release, "role_arns": f"{role.arn}\n{other.arn}"}
    )
    page = response.content.decode()
    assert 'id="release-version_error"' in page
    assert (
        escape(
            "checkout 2.4.0 was reviewed and signed off "
            f"(“Release checkout 2.4.0”, cycle #{cycle.pk}"
        )
        in page
    )
    assert "needs a new version number" in page
    assert ReviewCycle.objects.filter(kind="release").count() == 1


def test_a_signed_off_release_sent_again_unchanged_leads_to_its_cycle(client, reviewer, approver):
    account = make_account()
    role = role_with_policy(account, "checkout-api", s3_policy("s3:GetObject"))
    release = {"application": "checkout", "version": "2.4.0", "role_arns": role.arn}
    cycle, _, _ = open_release_cycle(
        **{**release, "role_arns": [role.arn]}, notes="", opened_by=reviewer
    )
    decide_all(cycle, reviewer)
    sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation=DEFAULT_ATTESTATION,
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )
    login(client, reviewer)

    response = client.post("/review/releases/", release, follow=True)

    assert response.redirect_chain[-1][0] == f"/review/cycles/{cycle.pk}/"
    assert (
        "Release checkout 2.4.0 was already reviewed and signed off with these roles, here. "
        "No second cycle was opened."
    ) in message_texts(response)
    assert ReviewCycle.objects.filter(kind="release").count() == 1


def test_the_register_a_release_form_takes_its_longest_fields(client, reviewer):
    account = make_account()
    role = role_with_policy(account, "checkout-api", s3_policy("s3:GetObject"))
    login(client, reviewer)

    response = client.post(
        "/review/releases/",
        {"application": "a" * 200, "version": "1" * 100, "role_arns": role.arn, "notes": ""},
    )

    cycle = ReviewCycle.objects.get(kind="release")
    assert response.status_code == 302
    assert (len(cycle.application), len(cycle.version), len(cycle.title)) == (200, 100, 300)


def test_a_release_naming_more_roles_than_the_api_allows_is_refused_on_the_page_too(
    client, reviewer
):
    """The API refused 1,001 ARNs; the page opened a cycle with 1,500 unknown roles."""
    login(client, reviewer)
    arns = "\n".join(f"arn:aws:iam::111122223333:role/r{n}" for n in range(1001))
    response = client.post(
        "/review/releases/", {"application": "checkout", "version": "9", "role_arns": arns}
    )
    assert response.status_code == 200
    assert "List at most 1000 role ARNs per release (this lists 1001)." in response.content.decode()
    assert not ReviewCycle.objects.filter(kind="release").exists()


def test_a_release_without_a_version_is_explained_inline(client, reviewer):
    login(client, reviewer)
    response = client.post(
        "/review/releases/",
        {"application": "checkout", "version": "", "role_arns": "arn:aws:iam::1:role/x"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="release-version_error"' in page
    assert "Give the version that shipped." in page
    assert not ReviewCycle.objects.exists()


def test_approvers_do_not_register_releases(client, approver):
    make_account()
    login(client, approver)
    assert "Register a release" not in client.get("/review/").content.decode()
    response = client.post(
        "/review/releases/",
        {"application": "a", "version": "1", "role_arns": "arn:aws:iam::111122223333:role/x"},
    )
    assert response.status_code == 403


# --- The queue --------------------------------------------------------------------------------


def test_the_queue_shows_each_item_with_severity_assignee_and_decision(client, cycle, reviewer):
    decide(item_of(cycle, "bob"), reviewer)
    login(client, reviewer)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert "3 items" in page
    assert 'class="badge sev-high"' in page
    assert page.count('class="badge clean"') == 2
    assert "Undecided" in page and "decision-keep" in page
    # High severity sorts first.
    assert page.index(user_arn("alice")) < page.index(user_arn("bob"))


def test_queue_rows_escape_what_they_show_and_say_who_decided_what(
    client, cycle, reviewer, second_reviewer
):
    """The queue's rows are built in Python (findings.reviews.rows): every value escaped,
    every decision variant worded as before."""
    account = cycle.items.first().account
    account.name = '<img src=x onerror="alert(1)">'
    account.save(update_fields=["name"])
    second_reviewer.full_name = "<b>Sam</b>"
    second_reviewer.save(update_fields=["full_name"])
    alice, bob, carol = (item_of(cycle, name) for name in ("alice", "bob", "carol"))
    ReviewItem.objects.filter(pk=alice.pk).update(title="<script>alert(1)</script>")
    decide(bob, reviewer, kind="delegate", justification="yours", delegate_to=second_reviewer)
    until = timezone.localdate() + timedelta(days=30)
    decide(carol, reviewer, kind="accept_risk", justification="known", expires_on=until)
    assign_items(items=[alice], assignee=second_reviewer, actor=reviewer)
    ReviewItem.objects.filter(pk=carol.pk).update(remediation="pending")
    login(client, reviewer)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page and "<b>Sam</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'aria-label="Select &lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert '<span class="help">to &lt;b&gt;Sam&lt;/b&gt;</span>' in page
    assert f'<span class="help">until {until.isoformat()}</span>' in page
    assert f"{reviewer.display_name}, {timezone.localdate().isoformat()}" in page
    assert '<div class="remediation remediation-pending">Remediation pending</div>' in page
    # Whose item it is, for the keys' "next undecided" (it passes by others' items).
    assert (
        f'<tr id="item-{alice.pk}-row" class="item-row" data-assignee="{second_reviewer.pk}">'
    ) in page
    assert f'<tr id="item-{carol.pk}-row" class="item-row is-decided">' in page
    assert f'data-viewer="{reviewer.pk}"' in page
    assert f'href="/review/items/{alice.pk}/" hx-get="/review/items/{alice.pk}/"' in page


def test_the_queue_names_people_who_are_no_longer_reviewers(client, cycle, reviewer, administrator):
    """Rows take names from the page's reviewer list; anyone else is read by id."""
    from django.contrib.auth.models import Group

    bob = item_of(cycle, "bob")
    decide(bob, reviewer)
    reviewer.full_name = "Rita Formerly-Reviewer"
    reviewer.save(update_fields=["full_name"])
    Group.objects.get(name=Role.REVIEWER.value).user_set.remove(reviewer)
    login(client, administrator)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert f"Rita Formerly-Reviewer, {timezone.localdate().isoformat()}" in page


def test_the_filters_keep_what_was_chosen(client, cycle, reviewer):
    login(client, reviewer)
    page = client.get(
        f"/review/cycles/{cycle.pk}/",
        {"severity": "high", "status": "undecided", "sort": "title", "account": ACCOUNT_ID},
    ).content.decode()
    assert '<option value="high" selected>High</option>' in page
    assert '<option value="undecided" selected>' in page
    assert '<option value="title" selected>' in page
    assert f'<option value="{ACCOUNT_ID}" selected>Production ({ACCOUNT_ID})</option>' in page
    assert page.count(" selected>") == 4


def test_queue_filters_sort_and_pages_are_in_the_url_and_swap_in_place(
    client, reviewer, second_reviewer
):
    cycle = many_users_cycle(30)
    items = list(cycle.items.order_by("title"))
    decide(items[0], reviewer)
    ReviewItem.objects.filter(pk__in=[items[1].pk, items[2].pk]).update(assignee=reviewer)
    ReviewItem.objects.filter(pk=items[3].pk).update(assignee=second_reviewer)
    login(client, reviewer)
    url = f"/review/cycles/{cycle.pk}/"

    first = client.get(url).content.decode()
    assert "30 items, showing 1–25" in first
    assert f"{url}?page=2" in first
    second = client.get(url, {"page": 2}).content.decode()
    assert "showing 26–30" in second

    assert "29 items match" in client.get(url, {"status": "undecided"}).content.decode()
    assert "1 item match" in client.get(url, {"status": "decided"}).content.decode()
    mine = client.get(url, {"assignee": "me"}).content.decode()
    assert "2 items match" in mine
    assert "27 items match" in client.get(url, {"assignee": "unassigned"}).content.decode()
    assert "1 item match" in client.get(url, {"assignee": second_reviewer.pk}).content.decode()
    assert "No item matches" in client.get(url, {"severity": "critical"}).content.decode()
    assert "30 items match" in client.get(url, {"severity": "none"}).content.decode()
    assert "No item matches" in client.get(url, {"account": "000000000000"}).content.decode()

    by_title = client.get(url, {"sort": "title", "page": 2}).content.decode()
    assert "user025" in by_title and "user024" not in by_title

    partial = client.get(url, {"status": "undecided"}, headers={**HTMX, "HX-Target": "queue"})
    body = partial.content.decode()
    assert partial.status_code == 200
    assert body.lstrip().startswith('<div id="queue"')
    assert "<html" not in body and "queue-filters" not in body
    assert "HX-Request" in partial["Vary"]
    assert 'hx-push-url="true"' in client.get(url).content.decode()


def test_the_cycle_page_takes_a_fixed_number_of_queries_whatever_its_size(
    client, reviewer, second_reviewer, django_assert_max_num_queries
):
    small = many_users_cycle(5)
    large = many_users_cycle(100, account_id="222233334444")
    for cycle in (small, large):
        items = list(cycle.items.all()[:3])
        decide(items[0], reviewer)
        decide(
            items[1], reviewer, kind="delegate", justification="yours", delegate_to=second_reviewer
        )
        decide(items[2], reviewer, kind="remediate", justification="")
    login(client, reviewer)
    for cycle in (small, large):  # each cycle's account filter is cached after its first view
        client.get(f"/review/cycles/{cycle.pk}/")
    with django_assert_max_num_queries(30) as small_page:
        assert client.get(f"/review/cycles/{small.pk}/").status_code == 200
    with django_assert_max_num_queries(len(small_page.captured_queries)):
        page = client.get(f"/review/cycles/{large.pk}/")
    assert page.content.decode().count('class="item-group"') == 25


def test_fresh_data_that_changed_since_the_cycle_opened_is_marked(client, cycle, reviewer):
    CredentialReportEntry.objects.filter(arn=user_arn("bob")).update(mfa_active=False)
    detect_and_refresh(account=cycle.items.first().account)  # as the next collection does
    login(client, reviewer)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert page.count("Fresh data changed") == 1
    bob_row = page[page.index(user_arn("bob")) - 1500 : page.index(user_arn("bob")) + 400]
    assert "Fresh data changed" in bob_row
    assert "this cycle froze: MFA" in bob_row  # what changed, on hovering the badge
    item = client.get(f"/review/items/{item_of(cycle, 'bob').pk}/").content.decode()
    assert "Fresh data changed since this cycle opened: MFA." in item
    unchanged = client.get(f"/review/items/{item_of(cycle, 'carol').pk}/").content.decode()
    assert "Fresh data changed" not in unchanged


def population_reads(queries) -> list[str]:
    """Queries that read the cycle's population, or the evidence it was built from, unbounded."""
    evidence_tables = ("findings_finding", "findings_credentialreportentry", "findings_iamuser")
    unbounded = []
    for query in queries:
        sql = query["sql"]
        one_item = '"reviewitem_id" = ' in sql  # an item's own findings: bounded by the item
        by_key = re.search(r"WHERE i\.id = \d+$", sql)  # one item by its id (load_item)
        bounded = one_item or "LIMIT" in sql  # e.g. the item's own inventory page link
        reads_evidence = any(f'"{table}"' in sql for table in evidence_tables) and not bounded
        # Counts too: progress and pagination come from the cycle's tally, not from its items.
        by_ids = '"findings_reviewitem"."id" IN (' in sql  # a page's rows, by the page's ids
        reads_items = (
            '"findings_reviewitem"' in sql and "LIMIT" not in sql and not by_ids and not by_key
        )
        if reads_evidence or reads_items:
            unbounded.append(sql)
    return unbounded


def test_the_queue_and_item_pages_read_a_page_never_the_population(
    client, reviewer, django_assert_max_num_queries
):
    small = many_users_cycle(5)
    large = many_users_cycle(120, account_id="222233334444")
    CredentialReportEntry.objects.filter(user="user007").update(mfa_active=False)
    for cycle in (small, large):
        detect_and_refresh(account=cycle.items.first().account)
    login(client, reviewer)
    for cycle in (small, large):  # each cycle's account filter is cached after its first view
        client.get(f"/review/cycles/{cycle.pk}/")
    captured = {}
    for name, cycle in (("small", small), ("large", large)):
        with django_assert_max_num_queries(30) as queue:
            page = client.get(f"/review/cycles/{cycle.pk}/", {"page": 2})
        assert page.status_code == 200
        with django_assert_max_num_queries(30) as item_page:
            assert client.get(f"/review/items/{item_of(cycle, 'user003').pk}/").status_code == 200
        captured[name] = (queue.captured_queries, item_page.captured_queries)
    for queries in (*captured["small"], *captured["large"]):
        assert population_reads(queries) == []
    assert [len(q) for q in captured["large"]] == [len(q) for q in captured["small"]]
    assert (
        "Fresh data changed"
        in client.get(f"/review/items/{item_of(large, 'user007').pk}/").content.decode()
    )


# --- One item ---------------------------------------------------------------------------------


def test_the_item_partial_shows_evidence_history_and_a_decision_form(
    client, cycle, reviewer, second_reviewer
):
    item = item_of(cycle, "alice")
    first = decide(
        item,
        second_reviewer,
        kind="delegate",
        justification="Rita knows alice",
        delegate_to=reviewer,
    )
    login(client, reviewer)
    response = client.get(f"/review/items/{item.pk}/", headers=HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith(f'<div id="item-{item.pk}"')
    assert "<html" not in body
    assert "MFA active" in body and "Console password" in body
    assert "Console password without MFA" in body
    assert "alice signs in with a password and no MFA device." in body
    assert "Rita knows alice" in body and "Delegate" in body
    assert f'name="expected_latest_id" value="{first.pk}"' in body
    assert f'hx-post="/review/items/{item.pk}/decide/"' in body
    for kind in ("keep", "remediate", "accept_risk", "false_positive", "delegate"):
        assert f'value="{kind}"' in body
    assert f'for="item-{item.pk}-decision_0"' in body
    # The whole page without htmx.
    page = client.get(f"/review/items/{item.pk}/").content.decode()
    assert "<html" in page and cycle.title in page


def test_a_release_item_shows_first_review_then_the_diff_since_the_approved_one(
    client, reviewer, approver
):
    account = make_account()
    role = role_with_policy(account, "checkout-api", s3_policy("s3:GetObject"))
    first, _, _ = open_release_cycle(
        application="checkout", version="1", role_arns=[role.arn], notes="", opened_by=reviewer
    )
    login(client, reviewer)
    page = client.get(f"/review/items/{first.items.get().pk}/").content.decode()
    assert "First review" in page
    assert "Policies in effect" in page and "s3:GetObject" in page
    assert "Unused services" in page
    decide_all(first, reviewer)
    sign_off_cycle(
        cycle=first,
        approver=approver,
        attestation=DEFAULT_ATTESTATION,
        summary_hash=sign_off_summary(cycle=first).digest,
    )

    PolicyAttachment.objects.update(gone_at=timezone.now())
    attach(account, role.arn, s3_policy("s3:GetObject", "s3:PutObject"))
    second, _, _ = open_release_cycle(
        application="checkout", version="2", role_arns=[role.arn], notes="", opened_by=reviewer
    )
    page = client.get(f"/review/items/{second.items.get().pk}/").content.decode()
    assert "First review" not in page
    assert "Changes since the last approved review" in page
    assert re.search(r'class="diff-line diff-added">\+\s+&quot;s3:PutObject&quot;</span>', page)
    assert 'class="diff-line diff-removed">-' in page
    assert "Actions added" in page and "<code>s3:PutObject</code>" in page
    assert f"cycle #{first.pk}" in page


# --- Deciding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "decided", "remediation"),
    [
        ({"decision": "keep", "justification": "On-call account, used nightly"}, True, ""),
        ({"decision": "remediate", "justification": ""}, True, "pending"),
        (
            {"decision": "accept_risk", "justification": "Vendor fix due next quarter", "days": 90},
            True,
            "",
        ),
        ({"decision": "false_positive", "justification": "MFA is enforced by SSO"}, True, ""),
        ({"decision": "delegate", "justification": "You own this", "to": True}, False, ""),
    ],
)
def test_each_kind_of_decision_is_recorded_through_the_form(
    client, cycle, reviewer, second_reviewer, data, decided, remediation
):
    item = item_of(cycle, "alice")
    payload = {"decision": data["decision"], "justification": data["justification"]}
    if "days" in data:
        payload["expires_on"] = (timezone.localdate() + timedelta(days=data["days"])).isoformat()
    if data.get("to"):
        payload["delegate_to"] = second_reviewer.pk
    login(client, reviewer)
    response = post_decision(client, item, **payload)
    assert response.status_code == 200
    assert "Decision recorded." in response.content.decode()
    stored = Decision.objects.get(item=item)
    assert (stored.kind, stored.decided_by, stored.justification) == (
        data["decision"],
        reviewer,
        data["justification"],
    )
    item.refresh_from_db()
    assert item.is_decided is decided
    assert item.remediation == remediation
    if data.get("to"):
        assert item.assignee == second_reviewer
    if "days" in data:
        assert stored.expires_on == timezone.localdate() + timedelta(days=90)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"decision": "keep", "justification": " "}, "justification", "A justification is"),
        ({"decision": "false_positive"}, "justification", "A justification is required"),
        ({"decision": "accept_risk", "justification": "x"}, "expires_on", "needs an expiry"),
        (
            {"decision": "accept_risk", "justification": "x", "expires_on": "2999-01-01"},
            "expires_on",
            "one year at most",
        ),
        ({"decision": "delegate", "justification": "x"}, "delegate_to", "Choose the reviewer"),
        ({"justification": "x"}, "decision", "required"),
        (
            {"decision": "keep", "justification": "abc"},
            "justification",
            "High items need a justification of at least 20 characters (this one has 3)",
        ),
    ],
)
def test_an_invalid_decision_is_explained_next_to_its_field_and_not_stored(
    client, cycle, reviewer, data, field, message
):
    item = item_of(cycle, "alice")
    login(client, reviewer)
    response = post_decision(client, item, **data)
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="item-{item.pk}-{field}_error"' in body
    error = body[body.index(f'id="item-{item.pk}-{field}_error"') :][:300]
    assert message in error
    assert not Decision.objects.exists()


def test_the_decision_form_proposes_an_expiry_ninety_days_ahead_for_accepting_a_risk(
    client, cycle, reviewer
):
    """Choosing Accept risk (3 on the keyboard) leaves only the justification to type: the
    expiry is filled in, within the year the domain allows, and the keys' help says so."""
    item = item_of(cycle, "alice")
    login(client, reviewer)
    page = client.get(f"/review/items/{item.pk}/").content.decode()
    proposed = (timezone.localdate() + timedelta(days=90)).isoformat()
    field = re.search(
        rf'<input type="date" name="expires_on"[^>]*id="item-{item.pk}-expires_on"[^>]*>', page
    )
    assert f'value="{proposed}"' in field.group(0)
    help_ = page[page.index('id="keys-help"') :]
    assert "the expiry is filled in 90 days from today" in help_
    assert "at least 20 characters" in help_
    assert "Filled in 90 days from today" in page
    assert (
        "the expiry is filled in 90 days"
        in client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    )

    response = post_decision(
        client, item, decision="accept_risk", justification=STILL_NEEDED, expires_on=proposed
    )
    assert "Decision recorded." in response.content.decode()
    assert Decision.objects.get().expires_on == timezone.localdate() + timedelta(days=90)


def test_a_proposed_expiry_is_stored_only_with_an_accepted_risk(client, cycle, reviewer):
    item = item_of(cycle, "bob")
    login(client, reviewer)
    proposed = (timezone.localdate() + timedelta(days=90)).isoformat()
    post_decision(client, item, decision="keep", justification="ok", expires_on=proposed)
    assert Decision.objects.get().expires_on is None


def test_two_reviewers_deciding_at_once_never_overwrite_each_other(
    client, cycle, reviewer, second_reviewer
):
    item = item_of(cycle, "alice")
    rita, sam = Client(), Client()
    rita.force_login(reviewer)
    sam.force_login(second_reviewer)
    # Both load the item: no decision yet.
    for person in (rita, sam):
        shown = person.get(f"/review/items/{item.pk}/", headers=HTMX).content.decode()
        assert f'name="expected_latest_id" id="item-{item.pk}-expected_latest_id">' in shown
    first = post_decision(
        rita, item, decision="keep", justification="Rita: still needed for on-call"
    )
    assert "Decision recorded." in first.content.decode()
    second = post_decision(sam, item, decision="remediate", justification="Sam: remove it")
    body = second.content.decode()
    assert second.status_code == 200
    assert "Someone else decided this item first" in body
    assert "rita.reviewer@example.com decided this item (Keep)" in body
    assert "Rita: still needed" in body
    assert "Nothing was overwritten" in body
    # Sam's input is kept, now against Rita's decision, to decide again if he still disagrees.
    latest = Decision.objects.get()
    assert f'name="expected_latest_id" value="{latest.pk}"' in body
    assert "Sam: remove it" in body
    assert Decision.objects.count() == 1
    assert latest.decided_by == reviewer and latest.kind == "keep"


def test_a_reviewer_never_decides_about_their_own_iam_identity(client, cycle, reviewer):
    LinkedIdentity.objects.create(user=reviewer, arn=user_arn("alice"))
    item = item_of(cycle, "alice")
    login(client, reviewer)
    shown = client.get(f"/review/items/{item.pk}/", headers=HTMX).content.decode()
    assert "Segregation of duties" in shown
    assert "decision-form" not in shown
    response = post_decision(client, item, decision="keep", justification=STILL_NEEDED)
    assert response.status_code == 403
    assert "Segregation of duties: this item concerns your own IAM identity" in (
        response.content.decode()
    )
    assert not Decision.objects.exists()


def test_a_decision_from_the_queue_also_updates_its_row_and_the_progress(client, cycle, reviewer):
    item = item_of(cycle, "alice")
    login(client, reviewer)
    response = client.post(
        f"/review/items/{item.pk}/decide/",
        {"decision": "keep", "justification": STILL_NEEDED, "expected_latest_id": ""},
        headers={
            **HTMX,
            "HX-Target": f"item-{item.pk}",
            "HX-Current-URL": f"http://testserver/review/cycles/{cycle.pk}/?status=undecided",
        },
    )
    body = response.content.decode()
    assert body.lstrip().startswith(f'<div id="item-{item.pk}"')
    assert f'<tr id="item-{item.pk}-row" class="item-row is-decided" hx-swap-oob="true">' in body
    assert 'id="cycle-progress"' in body and "1 / 3 decided" in body
    assert 'id="sign-off"' in body and "2 items still wait for a decision." in body
    # From the item's own page, only the item is swapped.
    again = client.post(
        f"/review/items/{item.pk}/decide/",
        {"decision": "remediate", "expected_latest_id": Decision.objects.get().pk},
        headers={**HTMX, "HX-Current-URL": f"http://testserver/review/items/{item.pk}/"},
    )
    assert "hx-swap-oob" not in again.content.decode()
    assert Decision.objects.count() == 2


@pytest.mark.parametrize("current", ["http://[::1", "https://x]:80/", "http://["])
def test_an_htmx_current_url_that_is_no_url_is_not_the_queue(client, cycle, reviewer, current):
    """HX-Current-URL is the browser's word: one urlparse cannot read was a 500."""
    item = item_of(cycle, "bob")
    login(client, reviewer)
    headers = {**HTMX, "HX-Current-URL": current}
    assert client.get(f"/review/items/{item.pk}/", headers=headers).status_code == 200
    response = client.post(
        f"/review/items/{item.pk}/decide/",
        {"decision": "keep", "justification": STILL_NEEDED, "expected_latest_id": ""},
        headers=headers,
    )
    assert response.status_code == 200 and "hx-swap-oob" not in response.content.decode()
    assert Decision.objects.count() == 1


def test_without_htmx_a_decision_redirects_back_to_the_item(client, cycle, reviewer):
    item = item_of(cycle, "bob")
    login(client, reviewer)
    response = client.post(
        f"/review/items/{item.pk}/decide/",
        {"decision": "keep", "justification": STILL_NEEDED, "expected_latest_id": ""},
    )
    assert response.status_code == 302 and response.url == f"/review/items/{item.pk}/"


# --- Bulk and assignment ----------------------------------------------------------------------


def bulk(client, cycle, items, seen_at=None, **data):
    payload = {
        "items": [item.pk for item in items],
        "seen_at": (seen_at or timezone.now()).isoformat(),
        "back": "status=undecided",
        **data,
    }
    return client.post(f"/review/cycles/{cycle.pk}/bulk/", payload, follow=True)


def message_texts(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_a_bulk_decision_needs_one_comment_and_decides_every_selected_item(client, cycle, reviewer):
    items = list(cycle.items.all())
    login(client, reviewer)
    response = bulk(client, cycle, items, decision="keep", justification="")
    assert response.redirect_chain == [(f"/review/cycles/{cycle.pk}/?status=undecided", 302)]
    assert "Nothing was decided: A comment is required for a bulk decision." in (
        response.content.decode()
    )
    assert not Decision.objects.exists()
    response = bulk(client, cycle, items, decision="keep", justification="Quarterly check done")
    assert response.redirect_chain[-1][0] == f"/review/cycles/{cycle.pk}/?status=undecided"
    assert "Decided 3 items: Keep." in message_texts(response)
    assert Decision.objects.filter(bulk=True, justification="Quarterly check done").count() == 3


def test_a_bulk_decision_sent_again_says_it_was_not_recorded_twice(client, cycle, reviewer):
    items = list(cycle.items.all())
    login(client, reviewer)
    seen_at = timezone.now()
    bulk(client, cycle, items, seen_at, decision="keep", justification="Quarterly check done")

    again = bulk(
        client, cycle, items, seen_at, decision="keep", justification="Quarterly check done"
    )

    assert (
        "3 items already had this decision from you, recorded by the same form a moment ago: "
        "not recorded twice." in message_texts(again)
    )
    assert Decision.objects.count() == 3


def test_a_bulk_keep_sent_twice_from_the_page_is_recorded_once(client, cycle, reviewer):
    """The page's bulk form always sends its proposed "Until" (the accept-risk expiry),
    whatever the decision: Back and resend of a bulk Keep is still the same form sent again."""
    items = list(cycle.items.all())
    login(client, reviewer)
    form = {
        "decision": "keep",
        "justification": "Quarterly check done",
        "expires_on": default_risk_expiry(day=timezone.localdate()).isoformat(),
    }
    seen_at = timezone.now()
    bulk(client, cycle, items, seen_at, **form)

    again = bulk(client, cycle, items, seen_at, **form)

    assert "3 items already had this decision from you" in " ".join(message_texts(again))
    assert Decision.objects.count() == 3
    assert set(Decision.objects.values_list("expires_on", flat=True)) == {None}
    assert AuditEntry.objects.filter(action="decision.recorded").count() == 3


def test_a_bulk_keep_ignores_an_until_that_is_no_date(client, cycle, reviewer):
    """ "Until" is for accepting a risk: what it says does not stop any other decision."""
    login(client, reviewer)

    response = bulk(
        client,
        cycle,
        list(cycle.items.all()),
        decision="keep",
        justification="Checked with each owner this quarter",
        expires_on="someday",
    )

    assert "Decided 3 items: Keep." in message_texts(response)


def test_a_refused_bulk_decision_keeps_every_input_and_preselects_no_decision(
    client, cycle, reviewer
):
    alice, bob = item_of(cycle, "alice"), item_of(cycle, "bob")
    login(client, reviewer)
    fresh = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert '<option value="">Choose a decision</option><option value="keep">' in fresh
    # The expiry of a bulk accepted risk is proposed as on an item's own form.
    proposed = (timezone.localdate() + timedelta(days=90)).isoformat()
    assert f'id="bulk-expires" name="expires_on" value="{proposed}"' in fresh

    response = bulk(
        client,
        cycle,
        [alice, bob],
        decision="accept_risk",
        justification="Vendor migration until spring",
    )

    assert response.redirect_chain[-1][0] == f"/review/cycles/{cycle.pk}/?status=undecided"
    page = response.content.decode()
    assert "Nothing was decided:" in page and "expiry" in page
    for item, checked in ((alice, True), (bob, True), (item_of(cycle, "carol"), False)):
        box = re.search(rf'<input type="checkbox" name="items" value="{item.pk}"[^>]*>', page)
        assert (" checked" in box.group(0)) is checked
    assert '<option value="accept_risk" selected>' in page
    assert 'value="Vendor migration until spring"' in page
    assert not Decision.objects.exists()


def bulk_errors(response) -> list[str]:
    page = response.content.decode()
    errors = re.search(r'<div class="form-error bulk-errors" role="alert">(.*?)</div>', page, re.S)
    return re.findall(r"<p>(.*?)</p>", errors.group(1)) if errors else []


def test_a_refused_bulk_decision_is_a_redirect_so_reloading_sends_nothing_again(
    client, cycle, reviewer
):
    login(client, reviewer)
    response = bulk(client, cycle, list(cycle.items.all()), decision="keep", justification="")
    # The refusal is shown at the queue's own address, once: a reload is a plain GET.
    assert response.redirect_chain == [(f"/review/cycles/{cycle.pk}/?status=undecided", 302)]
    assert response.request["PATH_INFO"] == f"/review/cycles/{cycle.pk}/"
    assert bulk_errors(response)[0].startswith("Nothing was decided")
    reloaded = client.get(f"/review/cycles/{cycle.pk}/", {"status": "undecided"})
    assert reloaded.status_code == 200 and bulk_errors(reloaded) == []
    assert not Decision.objects.exists()


def test_a_bulk_decision_naming_an_item_of_another_cycle_decides_nothing_and_says_which(
    client, cycle, reviewer
):
    other = many_users_cycle(1, account_id="444455556666")
    stranger = other.items.get()
    login(client, reviewer)
    response = bulk(
        client,
        cycle,
        [item_of(cycle, "bob"), stranger],
        decision="keep",
        justification=STILL_NEEDED,
    )
    assert bulk_errors(response)[0] == (
        f"Nothing was decided: item {stranger.pk} is not in this cycle. Reload the page and "
        "select again."
    )
    assert not Decision.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"decision": "approve"},
            "Nothing was decided: Unknown decision “approve”: choose one of Keep, Remediate, "
            "Accept risk, False positive.",
        ),
        (
            {"decision": "delegate"},
            "Nothing was decided: Delegate is not a bulk decision: assign the selected items "
            "instead, or delegate them one at a time.",
        ),
        (
            {"decision": "keep", "justification": "x" * 5001},
            "Nothing was decided: The comment is too long: at most 5,000 characters (this one "
            "has 5,001).",
        ),
        (
            {"decision": "keep", "seen_at": ""},
            "Nothing was decided: The form was incomplete; reload the page and try again.",
        ),
    ],
)
def test_a_refused_bulk_decision_names_the_real_problem(client, cycle, reviewer, fields, message):
    login(client, reviewer)
    data = {"justification": STILL_NEEDED, **fields}
    if data.get("seen_at") == "":
        response = client.post(
            f"/review/cycles/{cycle.pk}/bulk/",
            {"items": [item_of(cycle, "bob").pk], **data},
            follow=True,
        )
    else:
        response = bulk(client, cycle, [item_of(cycle, "bob")], **data)
    assert bulk_errors(response)[0] == escape(message)
    assert not Decision.objects.exists()


def test_a_bulk_keep_of_a_high_item_needs_a_twenty_character_comment(client, cycle, reviewer):
    """The comment is one for every item: refused for all when one of them is high."""
    login(client, reviewer)
    items = list(cycle.items.all())
    response = bulk(client, cycle, items, decision="keep", justification="Looks fine")
    assert bulk_errors(response)[0] == (
        "Nothing was decided: 1 of the selected items is critical or high: the comment needs "
        "at least 20 characters (this one has 10)."
    )
    assert not Decision.objects.exists()
    # Without the high item, or as a remediation, a short comment does.
    clean = [item for item in items if not item.severity]
    bulk(client, cycle, clean, decision="keep", justification="Looks fine")
    assert Decision.objects.count() == 2


def test_items_decided_by_someone_else_after_the_page_was_shown_are_bulk_conflicts(
    client, cycle, reviewer, second_reviewer
):
    seen_at = timezone.now()
    sams = decide(item_of(cycle, "bob"), second_reviewer, justification="Sam was first")
    login(client, reviewer)
    response = bulk(
        client,
        cycle,
        list(cycle.items.all()),
        seen_at=seen_at,
        decision="remediate",
        justification="Remove them all",
    )
    texts = message_texts(response)
    assert "Decided 2 items: Remediate." in texts
    assert any(t.startswith("1 not decided because someone decided them") for t in texts)
    item = item_of(cycle, "bob")
    assert item.latest_decision == sams
    assert item.decisions.count() == 1


def test_bulk_refuses_items_about_the_reviewers_own_identity(client, cycle, reviewer):
    LinkedIdentity.objects.create(user=reviewer, arn=user_arn("carol"))
    login(client, reviewer)
    response = bulk(
        client, cycle, list(cycle.items.all()), decision="keep", justification=STILL_NEEDED
    )
    texts = message_texts(response)
    assert "Decided 2 items: Keep." in texts
    assert any(t.startswith("1 refused:") and "Segregation of duties" in t for t in texts)
    assert not item_of(cycle, "carol").decisions.exists()


def test_confirm_clean_users_keeps_only_the_selected_users_without_findings(
    client, cycle, reviewer
):
    login(client, reviewer)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert "Confirm clean users" in page
    response = bulk(client, cycle, list(cycle.items.all()), action="confirm_clean")
    texts = message_texts(response)
    assert "Decided 2 items: Keep." in texts
    assert (
        "1 selected item with findings (set aside ones included) was left for an individual "
        "decision." in texts
    )
    assert not item_of(cycle, "alice").decisions.exists()
    assert item_of(cycle, "bob").latest_decision.justification.startswith("Confirmed clean")


def test_confirm_clean_leaves_a_user_whose_finding_is_set_aside_for_a_real_decision(
    client, reviewer
):
    """A full administrator whose critical finding was only excluded is no clean user: keeping
    it as "Confirmed clean" would skip the justification a critical item needs."""
    account = make_account()
    credential_entry(account, "bob")
    bot = finding_on(
        credential_entry(account, "deploy-bot"), check="full-admin", severity="critical"
    )
    Finding.objects.filter(pk=bot.pk).update(
        status=Finding.Status.EXCLUDED,
        exclusion_reason="Set aside by ARN until the migration, SEC-12",
    )
    cycle = open_cycle(kind="quarterly", opened_by=None, period="2026-Q4")
    assert item_of(cycle, "deploy-bot").severity == ""  # no open finding
    login(client, reviewer)
    queue = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert ">None open</span>" in queue and ">Clean</span>" not in queue  # not called clean

    response = bulk(client, cycle, list(cycle.items.all()), action="confirm_clean")

    texts = message_texts(response)
    assert "Decided 1 item: Keep." in texts
    assert (
        "1 selected item with findings (set aside ones included) was left for an individual "
        "decision." in texts
    )
    assert item_of(cycle, "deploy-bot").latest_decision is None
    assert item_of(cycle, "bob").latest_decision.justification.startswith("Confirmed clean")


def test_selected_items_are_assigned_and_unassigned(
    client, cycle, reviewer, second_reviewer, approver
):
    items = [item_of(cycle, "alice"), item_of(cycle, "bob")]
    url = f"/review/cycles/{cycle.pk}/assign/"
    login(client, reviewer)
    response = client.post(
        url, {"items": [i.pk for i in items], "assignee": second_reviewer.pk}, follow=True
    )
    assert "Assigned 2 items to sam.reviewer@example.com." in message_texts(response)
    assert set(cycle.items.filter(assignee=second_reviewer)) == set(items)
    login(client, second_reviewer)
    mine = client.get(f"/review/cycles/{cycle.pk}/", {"assignee": "me"}).content.decode()
    assert "2 items match" in mine
    client.post(url, {"items": [items[0].pk], "assignee": "unassigned"})
    assert cycle.items.filter(assignee=None).count() == 2
    assert AuditEntry.objects.filter(action="items.assigned").count() == 2
    login(client, approver)
    response = client.post(url, {"items": [items[0].pk], "assignee": second_reviewer.pk})
    assert response.status_code == 403


def test_assigning_to_someone_who_is_not_a_reviewer_is_refused(client, cycle, reviewer, auditor):
    login(client, reviewer)
    response = client.post(
        f"/review/cycles/{cycle.pk}/assign/",
        {"items": [item_of(cycle, "bob").pk], "assignee": auditor.pk},
        follow=True,
    )
    assert "otto.auditor@example.com is not a reviewer" in message_texts(response)
    assert not cycle.items.exclude(assignee=None).exists()


def test_assigning_from_a_page_shown_before_the_sign_off_says_nothing_was_assigned(
    client, cycle, reviewer, second_reviewer, approver
):
    decide_all(cycle, reviewer)
    sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation=DEFAULT_ATTESTATION,
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )
    login(client, reviewer)

    response = client.post(
        f"/review/cycles/{cycle.pk}/assign/",
        {"items": [item_of(cycle, "bob").pk], "assignee": second_reviewer.pk},
        follow=True,
    )

    assert "Nothing was assigned: this cycle is signed off and locked." in message_texts(response)
    assert item_of(cycle, "bob").assignee_id is None


def test_assigning_items_about_the_assignees_own_identity_is_refused_whole(
    client, cycle, reviewer, administrator
):
    LinkedIdentity.objects.create(user=reviewer, arn=user_arn("carol"))
    login(client, administrator)

    response = client.post(
        f"/review/cycles/{cycle.pk}/assign/",
        {"items": [item.pk for item in cycle.items.all()], "assignee": reviewer.pk},
        follow=True,
    )

    assert (
        "Nothing was assigned: 1 selected item concerns rita.reviewer@example.com's own IAM "
        "identity (“carol (Production)”); assign it to someone else."
    ) in message_texts(response)
    assert not cycle.items.exclude(assignee=None).exists()


# --- Sign-off ---------------------------------------------------------------------------------


def refused_sign_off_page(client, cycle, fields: dict):
    """A sign-off the server refuses: a redirect to the cycle's sign-off section, then the page
    that shows why (once)."""
    response = client.post(f"/review/cycles/{cycle.pk}/sign-off/", fields)
    assert response.status_code == 302
    assert response.url == f"/review/cycles/{cycle.pk}/#sign-off"
    assert ReviewCycle.objects.get(pk=cycle.pk).state == "open"
    page = client.get(response.url)
    assert page.status_code == 200
    return page


def sign_off_section(response) -> str:
    page = response.content.decode()
    return page[page.index('<section id="sign-off"') : page.index('<h2 id="queue-heading"')]


def test_sign_off_waits_for_every_decision(client, cycle, reviewer, approver):
    decide(item_of(cycle, "alice"), reviewer)
    login(client, approver)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert "2 items still wait for a decision" in page
    assert "sign-off-form" not in page
    response = refused_sign_off_page(
        client, cycle, {"attestation": DEFAULT_ATTESTATION, "confirm": "on"}
    )
    assert "2 items still wait for a decision" in response.content.decode()
    cycle.refresh_from_db()
    assert cycle.state == "open"


def test_a_refused_sign_off_is_a_redirect_so_reloading_signs_nothing_again(
    client, cycle, reviewer, approver
):
    """The refusal was the POST's own page: reloading it sent the form again (and the browser
    asked whether to). Now the refusal is shown once at the cycle's address, with the
    approver's own attestation kept; a reload is a plain GET."""
    for user in ("alice", "bob", "carol"):
        decide(item_of(cycle, user), reviewer)
    login(client, approver)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    read = re.search(r'name="summary_hash" value="([0-9a-f]{64})"', page).group(1)
    decide(item_of(cycle, "bob"), reviewer, kind="remediate", justification="")  # meanwhile
    own_words = "I reviewed every <item> with the payments team."

    response = refused_sign_off_page(
        client, cycle, {"attestation": own_words, "confirm": "on", "summary_hash": read}
    )

    section = sign_off_section(response)
    assert section.count("The cycle changed after you loaded this page") == 1
    assert escape(own_words) in section and "sign-off-form" in section
    box = re.search(r'<input type="checkbox" name="confirm"[^>]*>', section).group(0)
    assert "checked" not in box  # it confirmed the summary read before
    fresh = re.search(r'name="summary_hash" value="([0-9a-f]{64})"', section).group(1)
    assert fresh == sign_off_summary(cycle=cycle).digest != read

    reloaded = sign_off_section(client.get(f"/review/cycles/{cycle.pk}/"))
    assert "The cycle changed after you loaded this page" not in reloaded
    assert escape(own_words) not in reloaded and escape(DEFAULT_ATTESTATION) in reloaded
    assert ReviewCycle.objects.get(pk=cycle.pk).state == "open"


def test_a_sign_off_refused_because_an_item_was_reopened_shows_why_and_the_attestation_once(
    client, cycle, reviewer, second_reviewer, approver
):
    for user in ("alice", "bob", "carol"):
        decide(item_of(cycle, user), reviewer)
    login(client, approver)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    read = re.search(r'name="summary_hash" value="([0-9a-f]{64})"', page).group(1)
    decide(item_of(cycle, "carol"), reviewer, kind="delegate", delegate_to=second_reviewer)
    own_words = "Reviewed with the on-call rota owners."

    response = refused_sign_off_page(
        client, cycle, {"attestation": own_words, "confirm": "on", "summary_hash": read}
    )

    section = sign_off_section(response)
    assert section.count("1 item still waits for a decision") == 1
    assert 'role="alert"' in section and "sign-off-form" not in section
    assert own_words in section and "Nothing was signed" in section
    reloaded = sign_off_section(client.get(f"/review/cycles/{cycle.pk}/"))
    assert "1 item still waits for a decision" in reloaded
    assert 'role="alert"' not in reloaded and own_words not in reloaded


def test_an_approver_signs_off_and_the_cycle_is_locked(client, cycle, reviewer, approver):
    decide(item_of(cycle, "alice"), reviewer, kind="remediate", justification="")
    for user in ("bob", "carol"):
        decide(item_of(cycle, user), reviewer)
    login(client, approver)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert "sign-off-form" in page and escape(DEFAULT_ATTESTATION) in page
    url = f"/review/cycles/{cycle.pk}/sign-off/"

    read = re.search(r'name="summary_hash" value="([0-9a-f]{64})"', page).group(1)

    unconfirmed = refused_sign_off_page(
        client, cycle, {"attestation": "Reviewed every item.", "summary_hash": read}
    )
    section = sign_off_section(unconfirmed)
    assert "Tick the box to confirm the attestation." in section
    assert "Reviewed every item." in section

    # Without the summary's hash nothing says the approver read it: refused, summary shown.
    unread = refused_sign_off_page(
        client, cycle, {"attestation": "Reviewed in full.", "confirm": "on"}
    )
    assert "Read the sign-off summary above before signing" in unread.content.decode()
    assert f'name="summary_hash" value="{read}"' in unread.content.decode()

    terse = refused_sign_off_page(
        client, cycle, {"attestation": " ok ", "confirm": "on", "summary_hash": read}
    )
    section = sign_off_section(terse)
    assert "The attestation needs at least 10 characters (this one has 2)" in section
    box = re.search(r'<input type="checkbox" name="confirm"[^>]*>', section).group(0)
    assert "checked" in box  # what they confirmed has not changed: only the text was short

    response = client.post(
        url,
        {"attestation": "Reviewed in full.", "confirm": "on", "summary_hash": read},
        follow=True,
    )
    cycle.refresh_from_db()
    assert cycle.state == "signed_off" and cycle.signed_off_by == approver
    page = response.content.decode()
    assert f"Signed off “{cycle.title}”. It is now locked." in page
    assert "Reviewed in full." in page and cycle.signed_population_hash in page
    assert "paula.approver@example.com" in page
    assert cycle.signed_summary_hash == read

    login(client, reviewer)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert "bulk-form" not in page and 'name="items"' not in page
    assert "Remediation pending" in page
    item = client.get(f"/review/items/{item_of(cycle, 'bob').pk}/").content.decode()
    assert "decision-form" not in item and "decisions are locked" in item
    response = post_decision(client, item_of(cycle, "bob"), decision="remediate")
    assert response.status_code == 403
    assert "signed off and locked" in response.content.decode()
    assert "Signed off" in client.get("/review/").content.decode()


def test_an_approver_who_decided_an_item_cannot_sign_the_cycle_off(
    client, cycle, reviewer, reviewer_approver
):
    decide(item_of(cycle, "alice"), reviewer_approver)
    for user in ("bob", "carol"):
        decide(item_of(cycle, user), reviewer)
    login(client, reviewer_approver)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert "Segregation of duties: you decided items in this cycle" in page
    assert "sign-off-form" not in page
    response = refused_sign_off_page(client, cycle, {"attestation": "ok", "confirm": "on"})
    assert "another approver must sign it off" in response.content.decode()


def test_whoever_registered_a_release_is_told_another_approver_must_sign_it_off(
    client, reviewer, reviewer_approver, approver
):
    account = make_account()
    role = role_with_policy(account, "checkout-api", s3_policy("s3:GetObject"))
    cycle = open_release_cycle(
        application="checkout",
        version="7",
        role_arns=[role.arn],
        notes="",
        opened_by=reviewer_approver,
    ).cycle
    decide_all(cycle, reviewer)
    login(client, reviewer_approver)
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert "Segregation of duties: you registered this release" in page
    assert "sign-off-form" not in page
    read = sign_off_summary(cycle=cycle).digest
    fields = {"attestation": DEFAULT_ATTESTATION, "confirm": "on", "summary_hash": read}
    response = refused_sign_off_page(client, cycle, fields)
    assert "you registered this release, so another approver must sign it off" in (
        response.content.decode()
    )
    login(client, approver)
    assert "sign-off-form" in client.get(f"/review/cycles/{cycle.pk}/").content.decode()


def test_overdue_is_marked_on_the_cycle_and_item_pages_but_not_once_signed_off(
    client, reviewer, approver
):
    cycle = many_users_cycle(1)
    ReviewCycle.objects.filter(pk=cycle.pk).update(due_on=timezone.localdate() - timedelta(1))
    login(client, reviewer)
    assert "badge overdue" in client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    item = cycle.items.get()
    assert "badge overdue" in client.get(f"/review/items/{item.pk}/").content.decode()
    decide(item, reviewer)
    sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation=DEFAULT_ATTESTATION,
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )
    assert "badge overdue" not in client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert "badge overdue" not in client.get("/review/").content.decode()


# --- The audit log ----------------------------------------------------------------------------


def test_the_audit_log_is_for_auditors_and_administrators_and_verifies_its_chain(
    client, cycle, reviewer, auditor, administrator
):
    decide(item_of(cycle, "alice"), reviewer, justification="Audit me: on-call account")
    login(client, reviewer)
    assert client.get("/review/audit/").status_code == 403
    for person in (auditor, administrator):
        login(client, person)
        page = client.get("/review/audit/").content.decode()
        assert "Chain intact" in page
        assert "decision.recorded" in page and "cycle.opened" in page
        assert "Audit me" in page and "rita.reviewer@example.com" in page
    filtered = client.get("/review/audit/", {"action": "cycle.opened"}).content.decode()
    assert "1 entry matches these filters" in filtered
    partial = client.get(
        "/review/audit/",
        {"action": "decision.recorded"},
        headers={**HTMX, "HX-Target": "audit-table"},
    ).content.decode()
    assert partial.lstrip().startswith('<div id="audit-table">')
    assert "Chain intact" not in partial


def test_the_audit_log_pages_and_reports_a_broken_chain(client, auditor, postgres):
    from findings.audit.services import record

    # Plus creating the auditor, their group membership and their role: 55.
    for n in range(52):
        record(actor=None, action="test.entry", target_type="test", target_id=n)
    login(client, auditor)
    page = client.get("/review/audit/").content.decode()
    assert "55 entries" in page and "Page 1 of 2" in page
    assert "Older" in client.get("/review/audit/").content.decode()
    with postgres.cursor() as cursor:
        # Someone with superuser rights bypasses the append-only trigger to alter an entry.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE findings_auditentry SET target_label = 'tampered' WHERE id = "
            "(SELECT min(id) + 3 FROM findings_auditentry)"
        )
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    # Views between whole walks verify only what was added since: an older entry edited in
    # between shows at the next whole walk, or at once with "Verify the whole chain now".
    page = client.get("/review/audit/").content.decode()
    assert "Chain intact" in page and "The whole chain was walked" in page
    assert "Verify the whole chain now" in page
    answer = client.post("/review/audit/verify/")
    assert answer.status_code == 302 and answer["Location"] == "/review/audit/"
    page = client.get("/review/audit/").content.decode()
    assert "Chain broken" in page and "its content does not match its hash" in page


def test_audit_page_views_walk_only_what_was_added_since_the_whole_walk(
    client, auditor, reviewer, postgres, settings, django_assert_max_num_queries
):
    from findings.audit.services import record

    for n in range(30):
        record(actor=None, action="test.entry", target_type="test", target_id=n)
    login(client, auditor)
    first = client.get("/review/audit/").content.decode()
    assert "The whole chain was walked just now" in first
    record(actor=None, action="test.entry", target_type="test", target_id=99)
    with django_assert_max_num_queries(20) as view:
        later = client.get("/review/audit/").content.decode()
    walks = [q["sql"] for q in view.captured_queries if 'FROM "findings_auditentry"' in q["sql"]]
    assert any('"findings_auditentry"."id" > ' in sql for sql in walks)  # from where it ended
    assert "the 1 entry written since was verified now" in later
    # The end of the log cut: the entry the last walk ended on is gone, so a whole walk again.
    last = AuditEntry.objects.order_by("-id").first()
    with postgres.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM findings_auditentry WHERE id = %s", [last.pk])
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    assert "The whole chain was walked just now" in client.get("/review/audit/").content.decode()
    # Only auditors and administrators ask for a whole walk, by POST with a CSRF token.
    login(client, reviewer)
    assert client.post("/review/audit/verify/").status_code == 403
    assert client.get("/review/audit/verify/").status_code in (403, 405)


def test_remediation_verification_still_shows_on_a_signed_off_cycle(client, reviewer, approver):
    from findings.models import CollectionRun

    cycle = many_users_cycle(1)
    item = cycle.items.get()
    decide(item, reviewer, kind="remediate", justification="")
    sign_off_cycle(
        cycle=cycle,
        approver=approver,
        attestation=DEFAULT_ATTESTATION,
        summary_hash=sign_off_summary(cycle=cycle).digest,
    )
    run = CollectionRun.objects.create(
        account=item.account,
        source="credential-report",
        trigger="schedule",
        status="succeeded",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    ReviewItem.objects.filter(pk=item.pk).update(
        remediation="verified", verified_at=timezone.now(), verified_by_run=run
    )
    login(client, reviewer)
    assert "Remediation verified" in client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    page = client.get(f"/review/items/{item.pk}/").content.decode()
    assert "Remediation verified" in page
    assert f'href="/collection/accounts/{item.account_id}/">collection run #{run.pk}</a>' in page
    assert "decisions are locked" in page


def test_a_refused_decision_keeps_the_chosen_radio_and_marks_an_invalid_one(
    client, cycle, reviewer
):
    """The decision's radios are written by item.html itself: the same inputs RadioSelect
    wrote, the chosen one still checked after a refusal."""
    item = item_of(cycle, "bob")
    login(client, reviewer)
    page = client.get(f"/review/items/{item.pk}/").content.decode()
    assert (
        f'<input type="radio" name="decision" value="keep" id="item-{item.pk}-decision_0" required>'
        in page
    )
    body = post_decision(client, item, decision="accept_risk", justification="x").content.decode()
    assert (
        f'<input type="radio" name="decision" value="accept_risk" id="item-{item.pk}-decision_2"'
        " required checked>" in body
    )
    body = post_decision(client, item, decision="bogus", justification="x").content.decode()
    assert (
        body.count('aria-invalid="true"><label') == 5
        and " checked" not in body.split("<fieldset")[1].split("</fieldset>")[0]
    )


def test_the_reviewer_lists_follow_a_change_of_people_or_roles(client, cycle, administrator):
    """Reviewer lists are cached per process for a short while; a change of people or roles
    in this process shows at once."""
    from django.contrib.auth.models import Group

    login(client, administrator)
    assert (
        "new.reviewer@example.com" not in client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    )
    newcomer = make_person("new.reviewer@example.com", Role.REVIEWER)
    assert "new.reviewer@example.com" in client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    newcomer.full_name = "Nora Newcomer"
    newcomer.save()
    assert "Nora Newcomer" in client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    Group.objects.get(name=Role.REVIEWER.value).user_set.remove(newcomer)
    assert "Nora Newcomer" not in client.get(f"/review/cycles/{cycle.pk}/").content.decode()


@pytest.mark.parametrize("odd", ["²", "١٢", "9" * 30, "-1", "1e3", " 7"])
def test_odd_numbers_in_the_queue_and_its_forms_are_ignored_not_500s(client, cycle, reviewer, odd):
    """str.isdigit accepts "²" (int() refuses it) and numbers past the database's bigint."""
    login(client, reviewer)
    assert (
        client.get(f"/review/cycles/{cycle.pk}/", {"assignee": odd, "account": odd}).status_code
        == 200
    )
    response = client.post(f"/review/cycles/{cycle.pk}/assign/", {"items": [odd], "assignee": odd})
    assert response.status_code == 302
    response = client.post(
        f"/review/cycles/{cycle.pk}/assign/",
        {"items": [str(item_of(cycle, "bob").pk)], "assignee": odd},
    )
    assert response.status_code == 302 and item_of(cycle, "bob").assignee_id is None


def test_a_renamed_account_shows_in_the_queue_at_once(client, cycle, reviewer):
    login(client, reviewer)
    assert "Production" in client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    account = cycle.items.first().account
    account.name = "Renamed production"
    account.save()
    page = client.get(f"/review/cycles/{cycle.pk}/").content.decode()
    assert page.count("Renamed production") >= 4  # the filter, and each row
