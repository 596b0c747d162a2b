"""On a phone (390x844) the profile and a review item never scroll sideways: not with an API
token listed, not with the segregation-of-duties alert naming a long ARN."""

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
# An IAM user name at its 64-character limit, under a path: no hyphen or space to wrap at.
LONG_ARN = (
    "arn:aws:iam::111122223333:user/break-glass/platform/"
    "PlatformEngineeringBreakGlassAdministratorAccess0123456789abcdef"
)


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def item_about(arn: str):
    """A quarterly cycle whose one item is the IAM user `arn`."""
    from findings.collection.registry import add_account
    from findings.models import CredentialReportEntry
    from findings.reviews.services import open_cycle

    account = add_account(account_id="111122223333", name="Production", regions=["us-east-1"])
    now = timezone.now()
    CredentialReportEntry.objects.create(
        account=account,
        fingerprint="x",
        first_seen_at=now,
        changed_at=now,
        user=arn.rsplit("/", 1)[1],
        arn=arn,
        user_creation_time=now - timedelta(days=400),
        password_enabled=True,
        password_last_used=now - timedelta(days=3),
        mfa_active=True,
        access_key_1_active=False,
        access_key_2_active=False,
        cert_1_active=False,
        cert_2_active=False,
    )
    cycle = open_cycle(kind="quarterly", opened_by=None, period="2026-Q4")
    return cycle.items.get(subject_arn=arn)


def test_the_profile_with_an_api_token_fits_a_phone(page, live_server, reviewer, log_in):
    from accounts.tokens import create_token

    create_token(user=reviewer, name="release pipeline")
    page.set_viewport_size(PHONE)
    log_in(reviewer)

    page.goto(f"{live_server.url}/accounts/profile/")
    assert page.get_by_role("cell", name="release pipeline", exact=True).is_visible()
    assert page_width(page) <= PHONE["width"]


def test_a_review_item_with_the_segregation_alert_fits_a_phone(
    page, live_server, reviewer, log_in, csp_violations
):
    from accounts.models import LinkedIdentity

    item = item_about(LONG_ARN)
    LinkedIdentity.objects.create(user=reviewer, arn=LONG_ARN)
    page.set_viewport_size(PHONE)
    log_in(reviewer)

    page.goto(f"{live_server.url}/review/items/{item.pk}/")
    alert = page.locator(".callout-refused")
    assert "Segregation of duties" in alert.inner_text()
    assert LONG_ARN in alert.inner_text().replace("\n", "")
    assert page_width(page) <= PHONE["width"]
    assert csp_violations == []


@pytest.mark.parametrize("width", [390, 1280])
def test_a_long_unbroken_cycle_title_wraps_on_the_dashboard(
    page, live_server, reviewer, log_in, width
):
    from findings.models import ReviewCycle

    item = item_about(LONG_ARN)
    ReviewCycle.objects.filter(pk=item.cycle_id).update(title="Quarterly" + "X" * 150)
    page.set_viewport_size({"width": width, "height": 844})
    log_in(reviewer)
    page.goto(f"{live_server.url}/")
    assert page.get_by_text("Quarterly" + "X" * 150).first.is_visible()
    assert page_width(page) <= width
