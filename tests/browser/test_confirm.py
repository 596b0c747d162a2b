"""Destructive buttons marked data-confirm ask first; dismissing the question sends nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ending_an_exclusion_asks_first(page, live_server, administrator, log_in, csp_violations):
    from findings.collection.registry import add_account
    from findings.detection.exclusions import create_exclusion
    from findings.models import Exclusion

    account = add_account(account_id="111122223333", name="Sandbox", regions=["us-east-1"])
    exclusion = create_exclusion(
        kind=Exclusion.Kind.ACCOUNT,
        account=account,
        reason="Sandbox account, torn down every night",
        owner=administrator,
        expires_on=timezone.localdate() + timedelta(days=30),
        created_by=administrator,
    )
    log_in(administrator)
    page.goto(f"{live_server.url}/findings/exclusions/")
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("button", name="End now").click()
    page.wait_for_timeout(300)
    exclusion.refresh_from_db()
    assert exclusion.ended_at is None
    assert questions and questions[0].startswith("End this exclusion?")

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.get_by_role("button", name="End now").click()
    page.wait_for_load_state("networkidle")
    exclusion.refresh_from_db()
    assert exclusion.ended_at is not None
    assert csp_violations == []
