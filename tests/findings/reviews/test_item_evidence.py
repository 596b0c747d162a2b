"""What a reviewer reads on a review item: evidence in words, with links to where it came from.

External access reads like the finding page (who gets in, which actions, under which conditions,
through which policy); a quarterly user item shows its credentials with their last use and the
policies in effect, its own and its groups'.
"""

import pytest
from django.utils import timezone

from findings.models import IamGroup, PolicyAttachment, PolicyDocument
from findings.policy.documents import document_hash
from findings.reviews.services import open_cycle
from tests.findings.reviews.test_evidence import (
    aa_row,
    credential_entry,
    days_ago,
    external_access,
    iam_user,
    make_account,
    make_finding,
    observed,
)

pytestmark = pytest.mark.django_db


def attach_to(account, principal_arn: str, principal_type: str, name: str, actions: list[str]):
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions}]}
    sha = document_hash(document=document)
    stored, _ = PolicyDocument.objects.get_or_create(
        sha256=sha, defaults={"document": document, "first_seen_at": timezone.now()}
    )
    PolicyAttachment.objects.create(
        account=account,
        principal_arn=principal_arn,
        principal_type=principal_type,
        kind="inline",
        policy_ref=name,
        policy_name=name,
        document_sha256=sha,
        document=stored,
        **observed(),
    )


def test_a_user_item_shows_keys_password_policies_and_links(client, reviewer, administrator):
    production = make_account()
    credential_entry(
        production,
        "alice",
        password=True,
        key=True,
        access_key_1_last_used_date=None,
        access_key_1_last_used_date_reason="N/A",
    )
    user = iam_user(production, "alice", groups=("developers",))
    group_arn = f"arn:aws:iam::{production.account_id}:group/developers"
    IamGroup.objects.create(
        account=production,
        arn=group_arn,
        name="developers",
        group_id="AGPADEV",
        path="/",
        create_date=days_ago(500),
        **observed(),
    )
    attach_to(production, user.arn, "user", "own-s3", ["s3:GetObject"])
    attach_to(production, group_arn, "group", "team-ec2", ["ec2:Describe*"])
    finding = make_finding(production, "access-key-unused", user.arn)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    item = cycle.items.get()

    client.force_login(reviewer)
    page = client.get(f"/review/items/{item.pk}/").content.decode()

    assert "Credentials" in page
    assert "never used" in page  # the active key AWS dates as N/A
    assert "no such credential" in page  # key 2 does not exist
    assert "inline: own-s3" in page
    assert "inline: team-ec2 (via group developers)" in page
    assert f'href="/findings/{finding.pk}/"' in page
    assert f'href="/inventory/users/{user.pk}/"' in page


def test_a_user_known_only_from_the_credential_report_says_its_policies_are_unknown(
    client, reviewer, administrator
):
    """A reviewer must not keep a user without seeing that what it may do was never read."""
    from findings.models import Source
    from tests.findings.reviews.test_evidence import succeeded_run

    production = make_account()
    credential_entry(production, "bob", password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    client.force_login(reviewer)
    page = client.get(f"/review/items/{cycle.items.get().pk}/").content.decode()
    assert "Users, roles and policies were never collected for this account" in page

    succeeded_run(production, Source.AUTHORIZATION_DETAILS)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    page = client.get(f"/review/items/{cycle.items.get().pk}/").content.decode()
    assert "Not in the latest users, roles and policies collected for this account" in page


def test_an_active_signing_certificate_shows_among_the_credentials(client, reviewer, administrator):
    production = make_account()
    credential_entry(
        production,
        "former-contractor",
        password=True,
        cert_1_active=True,
        cert_1_last_rotated=days_ago(2000),
    )
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    client.force_login(reviewer)
    page = client.get(f"/review/items/{cycle.items.get().pk}/").content.decode()
    row = page[page.index("Signing certificate 1") :]
    assert "AWS does not record its use" in row[: row.index("</tr>")]


def test_a_finding_set_aside_by_an_exclusion_shows_beside_a_clean_looking_item(
    client, reviewer, administrator
):
    production = make_account()
    credential_entry(production, "new-hire", password=True)
    user = iam_user(production, "new-hire")
    excluded = make_finding(
        production,
        "console-user-without-mfa",
        user.arn,
        status="excluded",
        exclusion_reason="Onboarding until 2027-01-15, SEC-88",
    )
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    item = cycle.items.get()
    assert item.severity == ""  # no open finding: the exclusion stands

    client.force_login(reviewer)
    page = client.get(f"/review/items/{item.pk}/").content.decode()
    assert "a clean user" not in page and "set aside by an exclusion or an earlier" in page
    assert f'href="/findings/{excluded.pk}/"' in page and "Onboarding until 2027-01-15" in page


def test_an_external_access_item_reads_like_the_finding_page(client, reviewer, administrator):
    production = make_account()
    row = aa_row(production, "f-1", "arn:aws:s3:::shared-reports")
    row.details = [
        {
            "externalAccessDetails": {
                "isPublic": False,
                "principal": {"AWS": "999988887777"},
                "action": ["s3:GetObject"],
                "condition": {"aws:SourceIp": "203.0.113.0/24"},
                "sources": [{"type": "POLICY"}],
            }
        }
    ]
    row.save()
    finding = external_access(production, "shared-reports", aws_finding=row)
    cycle = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])
    item = cycle.items.get()

    client.force_login(reviewer)
    page = client.get(f"/review/items/{item.pk}/").content.decode()

    assert "Who gets in" in page and "999988887777" in page
    assert "s3:GetObject" in page and "203.0.113.0/24" in page
    assert "the resource&#x27;s own policy" in page
    assert "Active in AWS" in page
    assert "<dd>ExternalAccess</dd>" not in page and "<dd>ACTIVE</dd>" not in page
    assert f'href="/findings/{finding.pk}/"' in page


def test_an_external_access_principal_keyed_items_still_says_who_gets_in(
    client, reviewer, administrator
):
    # The principal map comes from a resource policy someone else wrote.
    production = make_account()
    row = aa_row(production, "f-1", "arn:aws:s3:::shared-reports")
    row.details = [
        {
            "externalAccessDetails": {
                "principal": {"items": "x", "AWS": "999988887777"},
                "action": ["s3:GetObject"],
            }
        }
    ]
    row.save()
    external_access(production, "shared-reports", aws_finding=row)
    cycle = open_cycle(kind="monthly", opened_by=administrator, accounts=[production])
    item = cycle.items.get()

    client.force_login(reviewer)
    page = client.get(f"/review/items/{item.pk}/").content.decode()

    assert "999988887777" in page and '<code class="wrap">x</code>' in page


def test_the_item_page_links_to_its_place_in_the_queue_and_the_next_undecided_item(
    client, reviewer, second_reviewer, administrator, django_assert_max_num_queries
):
    from findings.reviews.services import DecisionInput, decide_item

    production = make_account()
    for name in ("ana", "ben", "cleo"):
        credential_entry(production, name, password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    ana, ben, cleo = cycle.items.order_by("title")
    decide_item(
        item=ben,
        actor=second_reviewer,
        decision=DecisionInput(kind="keep", justification="Needed"),
        expected_latest_id=None,
    )

    client.force_login(reviewer)
    with django_assert_max_num_queries(40):
        page = client.get(f"/review/items/{ana.pk}/").content.decode()

    assert f'href="/review/cycles/{cycle.pk}/?item={ana.pk}#item-{ana.pk}-row"' in page
    assert f'<a class="button small" rel="next" href="/review/items/{ben.pk}/"' in page
    assert f'href="/review/items/{cleo.pk}/" data-key="n">Next undecided' in page
    assert 'rel="prev"' not in page
    assert 'id="keys-help"' in page


def test_the_link_back_to_the_queue_opens_the_page_that_shows_the_item(
    client, reviewer, administrator
):
    """The item page links to ?item=<id>; the queue works out its page when the link is
    followed (the item page itself never counts the items before it)."""
    from findings.reviews.queue import PER_PAGE

    production = make_account()
    for n in range(PER_PAGE * 2 + 3):
        credential_entry(production, f"user{n:03}", password=True)
    cycle = open_cycle(kind="quarterly", opened_by=administrator, accounts=[production])
    ordered = list(cycle.items.order_by("severity_rank", "title", "id"))
    client.force_login(reviewer)
    for index in (0, PER_PAGE, PER_PAGE * 2 + 2):
        item = ordered[index]
        page = client.get(f"/review/cycles/{cycle.pk}/", {"item": item.pk}).content.decode()
        assert f'id="item-{item.pk}-row"' in page
        assert f"Page {index // PER_PAGE + 1} of 3" in page
    # Odd values are ignored (the first page), never an error.
    for odd in ("abc", "9" * 40, "-1", str(ordered[0].pk + 10_000)):
        assert client.get(f"/review/cycles/{cycle.pk}/", {"item": odd}).status_code == 200


def test_a_release_role_whose_findings_an_accepted_risk_hid_does_not_look_clean(
    client, reviewer, administrator
):
    from findings.reviews.releases import open_release_cycle
    from tests.findings.reviews.test_evidence import iam_role

    production = make_account()
    role = iam_role(production)
    hidden = make_finding(
        production,
        "role-unused",
        role.arn,
        resource_type="role",
        status="excluded",
        exclusion_reason="Risk accepted until 2027-01-15 (review item 7): vendor fix",
    )
    cycle, _, _ = open_release_cycle(
        application="checkout", version="2.15.0", role_arns=[role.arn], notes="", opened_by=reviewer
    )
    client.force_login(reviewer)
    page = client.get(f"/review/items/{cycle.items.get().pk}/").content.decode()
    assert "a clean IAM role" not in page and f'href="/findings/{hidden.pk}/"' in page
