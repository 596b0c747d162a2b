"""Collect now in the embedded mode of `make run`: a real Celery worker on kombu's filesystem
transport (no broker server). The page comes back at once and follows the runs to their end."""

import time

import pytest
from playwright.sync_api import expect

from tests.conftest import solo_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def embedded_celery(tmp_path, committed_db):
    """The project's Celery app on a filesystem broker in a temporary folder, as rundemo sets
    it up; given back to in-process mode afterwards."""
    from iamreview.broker import FILESYSTEM_BROKER_URL, filesystem_broker_options, prepare_folder
    from iamreview.celery import app

    prepare_folder(tmp_path)
    saved = {key: app.conf[key] for key in ("broker_url", "broker_transport_options")}
    saved.update(task_always_eager=app.conf.task_always_eager, result_backend=None)
    app.conf.update(
        broker_url=FILESYSTEM_BROKER_URL,
        broker_transport_options=filesystem_broker_options(tmp_path),
        task_always_eager=False,
        result_backend=None,
    )
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield app
    finally:
        app.conf.update(saved)
        app._pool = None
        app.amqp._producer_pool = None


def test_collect_now_returns_at_once_and_the_page_follows_the_runs(
    page, live_server, administrator, log_in, csp_violations, embedded_celery
):
    from moto import mock_aws

    from findings.collection.registry import add_account
    from findings.models import CollectionRun

    with mock_aws():  # process-wide: the worker thread talks to moto too
        import boto3

        boto3.client("iam").create_user(UserName="alice")
        account = add_account(account_id="123456789012", name="Production")
        log_in(administrator)
        page.goto(f"{live_server.url}/collection/")
        button = page.get_by_role("button", name="Collect now: every source of Production")

        started = time.monotonic()
        button.click()
        page.wait_for_url(f"{live_server.url}/collection/")
        assert time.monotonic() - started < 1.5  # a generous second: nothing ran in the request
        expect(page.get_by_role("status")).to_contain_text("Collection started for Production")
        assert page.locator("#collection-status").get_attribute("hx-trigger") == "every 2s"
        expect(page.locator("#collection-status progress").first).to_be_visible()

        with solo_worker(embedded_celery):
            # The status block polls until every run has ended, then stops polling.
            expect(page.locator("#collection-status")).not_to_have_attribute(
                "hx-trigger", "every 2s", timeout=60_000
            )
    runs = CollectionRun.objects.filter(account=account)
    assert runs.count() == 4 and not any(run.is_active for run in runs)
    expect(page.locator("#collection-status .badge.status-succeeded").first).to_be_visible()
    assert [e for e in csp_violations if "status of" not in e] == []
