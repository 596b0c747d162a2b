"""A reviewer opens a role's Least privilege section and downloads the suggested policy."""

import json
from pathlib import Path

import pytest

from tests.findings.detection.test_detect import iam_role, make_account
from tests.findings.rightsizing.test_selectors import BATCH, attach, service_row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def legacy_batch():
    production = make_account()
    role = iam_role(production, "legacy-checkout-batch-job")
    attach(production, role, BATCH, name="batch")
    service_row(production, role, "s3", used_days=2)
    service_row(production, role, "dynamodb", used_days=200)
    service_row(production, role, "sqs", used_days=None)
    return role


def test_reviewer_opens_least_privilege_and_downloads_the_policy(
    page, live_server, reviewer, legacy_batch, log_in, csp_violations
):
    log_in(reviewer)
    page.goto(f"{live_server.url}/inventory/roles/{legacy_batch.pk}/")
    section = page.locator("#least-privilege")
    section.scroll_into_view_if_needed()
    assert section.get_by_role("heading", name="Least privilege").is_visible()
    assert section.locator("pre.diff .diff-del").first.is_visible()

    with page.expect_download() as download_info:
        section.get_by_role("link", name="policy JSON").click()
    download = download_info.value
    assert download.suggested_filename == "legacy-checkout-batch-job-policy.json"
    policies = json.loads(Path(download.path()).read_text())["policies"]
    assert policies[0]["document"]["Statement"][0]["Action"] == "s3:GetObject"
    assert csp_violations == []
