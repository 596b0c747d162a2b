"""Organizations discovery: an account the organization no longer lists stops being collected,
with the reason on the account and in the audit log; nothing of it is deleted."""

import boto3
import pytest
from django.utils import timezone
from moto import mock_aws

from findings.collection.registry import NOT_LISTED, add_account, discover_organization_accounts
from findings.collection.schedule import due_pairs
from findings.models import AuditEntry, AwsAccount, CollectionRun, Source
from tests.findings.collection.test_registry import (  # noqa: F401 - a fixture
    org_account,
    stubbed_organizations,
)

pytestmark = pytest.mark.django_db

MANAGEMENT = "123456789012"  # moto's default account, which creates the organization


def discover():
    return discover_organization_accounts(role_arn="", member_role_name="IAMReviewReadOnly")


def collected_accounts() -> set[str]:
    return {account.account_id for account, _ in due_pairs(now=timezone.now())}


def test_an_account_that_left_the_organization_is_disabled_and_keeps_its_data():
    with mock_aws():
        org = boto3.client("organizations")
        org.create_organization(FeatureSet="ALL")
        leaving, staying = (
            org.create_account(Email=f"{name}@example.com", AccountName=name)[
                "CreateAccountStatus"
            ]["AccountId"]
            for name in ("leaving", "staying")
        )
        discover()
        account = AwsAccount.objects.get(account_id=leaving)
        CollectionRun.objects.create(
            account=account, source=Source.CREDENTIAL_REPORT, trigger="schedule", status="succeeded"
        )
        assert leaving in collected_accounts()

        org.remove_account_from_organization(AccountId=leaving)
        result = discover()
        again = discover()

    assert [a.account_id for a in result.deactivated] == [leaving]
    account.refresh_from_db()
    assert (account.enabled, account.org_state) == (False, NOT_LISTED)
    assert leaving not in collected_accounts()
    assert {staying, MANAGEMENT} <= collected_accounts()
    assert CollectionRun.objects.filter(account=account).count() == 1
    entry = AuditEntry.objects.filter(
        action="aws_account.discovered_change", target_id=str(account.pk)
    ).get()
    assert entry.before["enabled"] is True and entry.before["org_state"] == "ACTIVE"
    assert entry.after["enabled"] is False and entry.after["org_state"] == NOT_LISTED
    assert entry.after["reason"].startswith("no longer listed by the organization's ListAccounts")
    # Discovery again: already marked, nothing more is written.
    assert (again.deactivated, again.updated) == ([], [])
    assert AuditEntry.objects.filter(target_id=str(account.pk)).count() == 2  # added, disabled


# --- Stubbed ListAccounts -----------------------------------------------------------------------


@pytest.fixture
def list_accounts(stubbed_organizations):  # noqa: F811 - the imported fixture
    """Each call answers one listing of the stubbed Organizations client."""

    def listing(*accounts: dict):
        stubbed_organizations.add_response("list_accounts", {"Accounts": list(accounts)}, {})

    return listing


def test_an_account_back_in_the_organization_is_enabled_again(list_accounts):
    list_accounts(org_account(MANAGEMENT), org_account("111122223333"))
    discover()
    list_accounts(org_account(MANAGEMENT))
    discover()
    assert not AwsAccount.objects.get(account_id="111122223333").enabled

    list_accounts(org_account(MANAGEMENT), org_account("111122223333"))
    result = discover()

    account = AwsAccount.objects.get(account_id="111122223333")
    assert (account.enabled, account.org_state) == (True, "ACTIVE")
    assert [a.account_id for a in result.updated] == ["111122223333"]


def test_an_account_added_by_hand_is_marked_but_stays_enabled(list_accounts):
    """Someone connected it on purpose: it may well be collected outside the organization."""
    add_account(account_id="111122223333", name="Payments (added by hand)")
    add_account(account_id="444455556666", name="Never in the organization")
    list_accounts(org_account(MANAGEMENT), org_account("111122223333"))
    discover()
    list_accounts(org_account(MANAGEMENT))

    result = discover()

    by_hand = AwsAccount.objects.get(account_id="111122223333")
    assert (by_hand.enabled, by_hand.org_state) == (True, NOT_LISTED)
    assert [a.account_id for a in result.updated] == ["111122223333"]
    assert result.deactivated == []
    never = AwsAccount.objects.get(account_id="444455556666")
    assert (never.enabled, never.org_state) == (True, "")


def test_a_closed_account_that_stops_being_listed_stays_disabled(list_accounts):
    list_accounts(org_account(MANAGEMENT), org_account("111122223333", "CLOSED"))
    discover()
    list_accounts(org_account(MANAGEMENT))

    discover()

    account = AwsAccount.objects.get(account_id="111122223333")
    assert (account.enabled, account.org_state) == (False, NOT_LISTED)


def test_an_empty_listing_disables_nothing(list_accounts):
    """An organization always lists its management account: an empty answer is not news."""
    list_accounts(org_account(MANAGEMENT), org_account("111122223333"))
    discover()
    list_accounts()

    result = discover()

    assert (result.deactivated, result.updated) == ([], [])
    assert AwsAccount.objects.filter(enabled=True, org_state="ACTIVE").count() == 2


def test_discovering_a_second_organization_leaves_the_first_ones_accounts_alone(list_accounts):
    list_accounts(org_account("999900001111"), org_account("111122223333"))
    discover_organization_accounts(role_arn="", member_role_name="IAMReviewReadOnly")
    other = "o-other"
    list_accounts(
        org_account("888800002222", organization=other),
        org_account("444455556666", organization=other),
    )

    result = discover_organization_accounts(role_arn="", member_role_name="IAMReviewReadOnly")

    first = AwsAccount.objects.get(account_id="111122223333")
    assert (first.enabled, first.org_state, first.organization_id) == (True, "ACTIVE", "o-abc")
    assert result.deactivated == [] and len(result.added) == 2
    assert AwsAccount.objects.get(account_id="444455556666").organization_id == other
