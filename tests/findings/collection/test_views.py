"""The collection pages: status of every account and source, AWS accounts, file imports."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from findings.collection.registry import add_account
from findings.collection.status import ACCOUNT_RECENT_RUNS, RECENT_RUNS, recent_runs
from findings.models import AwsAccount, CollectionRun, CredentialReportEntry, Source
from tests.findings.history import assert_bounded, rows_read_at_two_sizes

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parents[1] / "data"
ROLE_ARN = "arn:aws:iam::123456789012:role/IAMReviewReadOnly"


@pytest.fixture
def account(db):
    return add_account(
        account_id="123456789012", name="Production", role_arn=ROLE_ARN, regions=["us-east-1"]
    )


def make_run(account, source=Source.CREDENTIAL_REPORT, status="succeeded", ago=None, **fields):
    finished = timezone.now() - (ago or timedelta(minutes=5))
    if status in ("succeeded", "failed"):
        fields.setdefault("started_at", finished - timedelta(seconds=42))
        fields.setdefault("finished_at", finished)
    run = CollectionRun.objects.create(
        account=account, source=source, trigger="schedule", status=status, **fields
    )
    if ago:
        CollectionRun.objects.filter(pk=run.pk).update(created_at=finished - timedelta(minutes=1))
    return run


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def upload(name="credential-report.csv", content=None):
    """The sample report (account 111122223333's), as the `account` fixture's own."""
    if content is None:
        sample = (DATA / "credential-report.csv").read_bytes()
        content = sample.replace(b"arn:aws:iam::111122223333:", b"arn:aws:iam::123456789012:")
    return SimpleUploadedFile(name, content, content_type="text/csv")


# --- Who may do what ----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["administrator", "reviewer", "approver", "auditor"])
def test_every_role_can_see_the_collection_and_account_pages(request, client, persona, account):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("collection")).status_code == 200
    assert client.get(reverse("aws_accounts")).status_code == 200
    assert client.get(reverse("aws_account", args=[account.pk])).status_code == 200


def test_outsider_without_a_role_gets_no_collection_page(client, outsider, account):
    client.force_login(outsider)
    assert client.get(reverse("collection")).status_code == 403
    assert client.get(reverse("aws_account", args=[account.pk])).status_code == 403


@pytest.mark.parametrize("persona", ["reviewer", "approver", "auditor"])
def test_only_administrators_may_change_accounts_collect_or_import(
    request, client, persona, account
):
    client.force_login(request.getfixturevalue(persona))
    pk = account.pk
    assert client.get(reverse("aws_account_add")).status_code == 403
    assert client.get(reverse("collection_import")).status_code == 403
    posts = [
        (reverse("aws_account_add"), {"account_id": "210987654321", "name": "Other"}),
        (reverse("aws_account_edit", args=[pk]), {"name": "Renamed"}),
        (reverse("aws_account_toggle", args=[pk]), {"enabled": "false"}),
        (reverse("collect_account", args=[pk]), {}),
        (reverse("collection_import"), {"account": pk, "kind": "credential-report"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    account.refresh_from_db()
    assert (account.name, account.enabled) == ("Production", True)
    assert AwsAccount.objects.count() == 1
    assert not CollectionRun.objects.exists()


def test_viewers_see_no_collect_or_add_buttons(client, reviewer, account):
    client.force_login(reviewer)
    page = client.get(reverse("collection")).content.decode()
    assert "Collect now" not in page
    assert "Add an AWS account" not in page
    assert "Production" in page


def test_administrator_sees_collect_buttons_for_the_account_and_each_source(
    client, administrator, account
):
    client.force_login(administrator)
    page = client.get(reverse("collection")).content.decode()
    assert page.count('id="collect-') == 1 + len(Source)
    assert "Collect now" in page


def test_posts_without_a_csrf_token_are_refused(administrator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(administrator)
    response = client.post(reverse("aws_account_add"), {"account_id": "123456789012", "name": "X"})
    assert response.status_code == 403
    assert not AwsAccount.objects.exists()


def test_a_role_in_another_account_is_refused_on_the_form(client, administrator):
    client.force_login(administrator)
    response = client.post(
        reverse("aws_account_add"),
        {
            "account_id": "210987654321",
            "name": "Other",
            "role_arn": "arn:aws:iam::123456789012:role/IAMReviewReadOnly",
            "regions": "us-east-1",
        },
    )
    assert response.status_code == 200
    assert "This role is in account 123456789012, not 210987654321" in response.content.decode()
    assert not AwsAccount.objects.exists()


def test_views_answer_only_their_http_methods(client, administrator, account):
    client.force_login(administrator)
    assert client.post(reverse("collection")).status_code == 405
    assert client.get(reverse("collect_account", args=[account.pk])).status_code == 405
    assert client.get(reverse("aws_account_toggle", args=[account.pk])).status_code == 405


# --- The collection page ------------------------------------------------------------------------


def test_empty_collection_page_tells_an_administrator_how_to_add_accounts(client, administrator):
    client.force_login(administrator)
    page = client.get(reverse("collection")).content.decode()
    assert "No AWS account is connected yet" in page
    assert reverse("aws_account_add") in page
    assert "python manage.py aws_accounts add" in page
    assert "python manage.py aws_accounts discover" in page


def test_empty_collection_page_tells_a_reviewer_to_ask_an_administrator(client, reviewer):
    client.force_login(reviewer)
    page = client.get(reverse("collection")).content.decode()
    assert "ask one to add yours" in page
    assert reverse("aws_account_add") not in page


def test_never_collected_sources_are_flagged(client, reviewer, account):
    client.force_login(reviewer)
    page = client.get(reverse("collection")).content.decode()
    assert page.count("Never collected") == len(Source)


def test_last_success_shows_when_and_what_was_collected(client, reviewer, account):
    make_run(
        account,
        ago=timedelta(hours=1),
        counts={"rows": 7, "created": 2, "updated": 1, "unchanged": 4, "gone": 0},
        data_generated_at=timezone.now() - timedelta(hours=3),
    )
    client.force_login(reviewer)
    page = client.get(reverse("collection")).content.decode()
    assert "Succeeded" in page
    assert "an hour ago" in page
    # The words are in a <time> the page keeps counting from (static/js/app.js).
    generated = r"report generated <time datetime=\S+ data-relative>3\xa0hours ago</time>"
    assert re.search(generated, page)
    assert "7 rows; 2 new, 1 changed" in page
    assert "Stale" not in page


def test_a_success_older_than_twice_the_interval_is_stale(client, reviewer, account, settings):
    settings.COLLECT_CREDENTIAL_REPORT_HOURS = 6
    make_run(account, ago=timedelta(hours=13))
    client.force_login(reviewer)
    page = client.get(reverse("collection")).content.decode()
    assert "Stale: over 12 h old" in page


def test_a_failed_run_shows_its_error_in_plain_words(client, reviewer, account):
    make_run(account, ago=timedelta(hours=2))
    make_run(
        account,
        status="failed",
        error="AccessDenied: the role does not trust iamreview's account",
    )
    client.force_login(reviewer)
    page = client.get(reverse("collection")).content.decode()
    assert "Failed" in page
    assert "the role does not trust iamreview&#x27;s account" in page
    assert "2\xa0hours ago" in page  # the last success is still shown


def test_a_running_collection_shows_its_progress(client, reviewer, account):
    make_run(
        account,
        source=Source.AUTHORIZATION_DETAILS,
        status="running",
        started_at=timezone.now(),
        progress_done=1,
        progress_total=3,
        progress_message="Reading 12 AWS-managed policies used here",
    )
    client.force_login(reviewer)
    page = client.get(reverse("collection")).content.decode()
    assert '<progress value="1" max="3"' in page
    assert "Reading 12 AWS-managed policies used here" in page


def test_a_disabled_account_is_shown_as_not_collected_and_never_stale(
    client, administrator, account
):
    make_run(account, ago=timedelta(days=30))
    account.enabled = False
    account.save()
    client.force_login(administrator)
    page = client.get(reverse("collection")).content.decode()
    assert "Disabled: not collected" in page
    assert "Stale" not in page
    assert 'id="collect-' not in page


def test_the_page_polls_itself_only_while_a_run_is_active(client, reviewer, account):
    client.force_login(reviewer)
    assert 'hx-trigger="every 2s"' not in client.get(reverse("collection")).content.decode()
    make_run(account, status="queued")
    assert 'hx-trigger="every 2s"' in client.get(reverse("collection")).content.decode()


def test_htmx_gets_only_the_status_block(client, reviewer, account):
    run = make_run(account, status="running", started_at=timezone.now())
    client.force_login(reviewer)
    response = client.get(reverse("collection"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.strip().startswith('<div id="collection-status"')
    assert "<html" not in body
    assert 'hx-get="/collection/"' in body
    assert 'hx-trigger="every 2s"' in body
    assert "HX-Request" in response["Vary"]

    CollectionRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())
    body = client.get(reverse("collection"), HTTP_HX_REQUEST="true").content.decode()
    assert 'id="collection-status"' in body
    assert "hx-trigger" not in body  # the last poll: the block replaces itself without polling


def test_account_page_polls_its_own_address(client, reviewer, account):
    make_run(account, status="queued")
    client.force_login(reviewer)
    url = reverse("aws_account", args=[account.pk])
    body = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert f'hx-get="{url}"' in body
    assert "<html" not in body


def test_recent_runs_list_who_asked_how_long_it_took_and_how_it_ended(
    client, administrator, account
):
    make_run(account, ago=timedelta(hours=1), counts={"rows": 7}, requested_by=administrator)
    make_run(account, source=Source.ACCESS_ANALYZER, status="failed", error="Throttled")
    client.force_login(administrator)
    page = client.get(reverse("collection")).content.decode()
    assert "Recent runs" in page
    assert administrator.display_name in page
    assert "42 s" in page
    assert "Throttled" in page


def test_recent_runs_are_limited_to_fifty(client, reviewer, account):
    for _ in range(55):
        make_run(account, ago=timedelta(hours=1))
    client.force_login(reviewer)
    response = client.get(reverse("collection"))
    assert len(response.context["runs"]) == 50


def seed_accounts(count: int) -> None:
    for index in range(count):
        account = add_account(account_id=f"{100000000000 + index}", name=f"Account {index}")
        for source in Source:
            make_run(account, source=source, ago=timedelta(hours=1), counts={"rows": 1})
        make_run(account, source=Source.CREDENTIAL_REPORT, status="running")


@pytest.mark.parametrize("accounts", [1, 10])
def test_the_collection_page_needs_the_same_queries_for_1_or_10_accounts(
    client, administrator, django_assert_max_num_queries, accounts
):
    seed_accounts(accounts)
    client.force_login(administrator)
    client.get(reverse("collection"))  # warm the session and permission caches
    # Session, user, permissions, the page's count and accounts, their runs, recent runs.
    with django_assert_max_num_queries(8):
        response = client.get(reverse("collection"))
    assert len(response.context["rows"]) == accounts
    with django_assert_max_num_queries(8):
        client.get(reverse("collection"), HTTP_HX_REQUEST="true")


def test_the_collection_page_shows_a_page_of_accounts_and_polls_that_page(
    client, administrator, django_assert_max_num_queries
):
    """Its status block is re-read every 2 s while a run is active: a page of accounts, not an
    organization's hundreds, whatever their number."""
    from findings.collection.views import STATUS_ACCOUNTS_PER_PAGE

    seed_accounts(STATUS_ACCOUNTS_PER_PAGE + 3)
    client.force_login(administrator)
    first = client.get(reverse("collection"))
    assert len(first.context["rows"]) == STATUS_ACCOUNTS_PER_PAGE
    page = first.content.decode()
    total = STATUS_ACCOUNTS_PER_PAGE + 3
    assert f"Accounts 1–{STATUS_ACCOUNTS_PER_PAGE} of {total}" in page
    assert 'rel="next" href="?page=2"' in page
    second = client.get(reverse("collection"), {"page": 2})
    assert len(second.context["rows"]) == 3
    assert second.context["poll_url"] == reverse("collection") + "?page=2"
    # Odd page numbers are a page, never an error.
    for odd in ("0", "999", "x" * 50):
        assert client.get(reverse("collection"), {"page": odd}).status_code == 200


def test_counts_read_as_words():
    from findings.collection.views import counts_summary

    counts = {
        "rows": 7,
        "created": 2,
        "updated": 1,
        "unchanged": 4,
        "gone": 0,
        "detection": {"opened": 3, "reopened": 0, "resolved": 1, "still_open": 5},
    }
    assert (
        counts_summary(counts=counts) == "7 rows; 2 new, 1 changed; findings 3 opened, 1 resolved"
    )
    assert counts_summary(counts={"users": 2, "users_unchanged": 2}) == "2 users; no change"
    assert counts_summary(counts={}) == ""


# --- Collect now --------------------------------------------------------------------------------


def test_collect_now_for_one_source_creates_a_manual_run(client, administrator, account):
    from moto import mock_aws

    client.force_login(administrator)
    with mock_aws():
        response = client.post(
            reverse("collect_account", args=[account.pk]), {"source": "credential-report"}
        )
    assert response.status_code == 302
    assert response.url == reverse("collection")
    run = CollectionRun.objects.get()
    assert (run.source, run.trigger, run.requested_by) == (
        "credential-report",
        "manual",
        administrator,
    )
    assert run.status in ("succeeded", "failed")  # tasks run in-process in tests
    # In-process, the outcome is known when the page comes back: it says so, not "requested".
    expected = (
        "Collected Production (123456789012): Credential report."
        if run.status == "succeeded"
        else "Collected Production (123456789012): 0 of 1 sources succeeded; failed:"
    )
    assert messages_of(response)[0].startswith(expected)


def test_collect_now_reports_failed_sources_as_failed(client, administrator, account):
    from moto import mock_aws

    client.force_login(administrator)
    with mock_aws():  # moto has no Access Analyzer or service last-accessed jobs
        response = client.post(reverse("collect_account", args=[account.pk]))
    message = messages_of(response)[0]
    failed = CollectionRun.objects.filter(status="failed").count()
    assert failed >= 1
    assert f"{4 - failed} of 4 sources succeeded; failed:" in message


def test_collect_now_for_the_account_asks_for_every_source(client, administrator, account):
    from moto import mock_aws

    client.force_login(administrator)
    with mock_aws():
        client.post(reverse("collect_account", args=[account.pk]))
    assert set(CollectionRun.objects.values_list("source", flat=True)) == set(Source.values)
    assert set(CollectionRun.objects.values_list("trigger", flat=True)) == {"manual"}


def test_collect_now_while_a_run_is_queued_says_it_is_already_running(
    client, administrator, account
):
    queued = make_run(account, status="queued")
    client.force_login(administrator)
    response = client.post(
        reverse("collect_account", args=[account.pk]), {"source": "credential-report"}
    )
    assert response.status_code == 302
    assert "Already running" in " ".join(messages_of(response))
    assert list(CollectionRun.objects.all()) == [queued]


def test_collect_now_with_the_broker_unreachable_says_so_and_leaves_every_source_free(
    client, administrator, account, broker_down
):
    """It answered 500, and each queued run held its source ("Already running") for nobody
    until the sweep called it abandoned, half an hour later."""
    client.force_login(administrator)

    response = client.post(reverse("collect_account", args=[account.pk]))

    assert response.status_code == 302
    assert response.url == reverse("collection")
    assert messages_of(response) == [
        "Not collected for Production (123456789012): Credential report, Users, roles and "
        "policies, Service last accessed, Access Analyzer findings. The task queue (the broker) "
        "could not be reached, so no worker was asked and nothing is left waiting: try again in "
        "a moment. If it goes on, the broker (Redis) is down: /healthz says so."
    ]
    assert set(CollectionRun.objects.values_list("status", flat=True)) == {"failed"}
    again = client.post(
        reverse("collect_account", args=[account.pk]), {"source": "credential-report"}
    )
    assert messages_of(again)[0].startswith("Not collected for Production (123456789012)")
    assert not CollectionRun.objects.filter(status__in=["queued", "running"]).exists()


def test_collect_now_returns_to_the_page_it_came_from_but_never_elsewhere(
    client, administrator, account
):
    make_run(account, status="queued")
    client.force_login(administrator)
    url = reverse("collect_account", args=[account.pk])
    detail = reverse("aws_account", args=[account.pk])
    data = {"source": "credential-report"}
    assert client.post(url, {**data, "next": detail}).url == detail
    assert client.post(url, {**data, "next": "https://evil.example/"}).url == "/collection/"
    assert client.post(url, {**data, "next": "abc"}).url == "/collection/"
    toggle = reverse("aws_account_toggle", args=[account.pk])
    assert client.post(toggle, {"next": "abc", "enabled": "true"}).url == detail


def test_a_disabled_account_is_not_collected(client, administrator, account):
    account.enabled = False
    account.save()
    client.force_login(administrator)
    response = client.post(reverse("collect_account", args=[account.pk]))
    assert "is disabled" in messages_of(response)[0]
    assert not CollectionRun.objects.exists()


def test_an_unknown_source_is_refused(client, administrator, account):
    client.force_login(administrator)
    response = client.post(reverse("collect_account", args=[account.pk]), {"source": "cloudtrail"})
    assert "no source called" in messages_of(response)[0]
    assert not CollectionRun.objects.exists()


# --- AWS accounts -------------------------------------------------------------------------------


VALID = {
    "account_id": "210987654321",
    "name": "Staging",
    "role_arn": "arn:aws:iam::210987654321:role/IAMReviewReadOnly",
    "external_id": "",
    "regions": "eu-west-1, us-east-1",
}


def test_administrator_adds_an_account_and_lands_on_the_collection_page(client, administrator):
    client.force_login(administrator)
    form = client.get(reverse("aws_account_add")).content.decode()
    assert 'name="account_id"' in form and "autofocus" in form
    response = client.post(reverse("aws_account_add"), VALID)
    assert response.status_code == 302
    assert response.url == reverse("collection")
    account = AwsAccount.objects.get()
    assert (account.account_id, account.name, account.regions) == (
        "210987654321",
        "Staging",
        ["eu-west-1", "us-east-1"],
    )
    assert "Added Staging (210987654321)" in messages_of(response)[0]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("account_id", "12345", "12 digits"),
        ("account_id", "12345678901a", "12 digits"),
        ("role_arn", "arn:aws:iam::210987654321:user/bob", "A role ARN looks like"),
        ("regions", "us-east-1, europe", "not an AWS region name"),
        ("name", "", "This field is required"),
    ],
)
def test_invalid_account_input_is_shown_next_to_its_field(
    client, administrator, field, value, error
):
    client.force_login(administrator)
    response = client.post(reverse("aws_account_add"), {**VALID, field: value})
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="id_{field}_error"' in page
    assert error in page
    assert 'aria-invalid="true"' in page
    assert not AwsAccount.objects.exists()


def test_adding_an_account_twice_is_a_clear_error_not_a_duplicate(client, administrator):
    client.force_login(administrator)
    client.post(reverse("aws_account_add"), VALID)
    response = client.post(reverse("aws_account_add"), VALID)  # a double-submitted form
    assert response.status_code == 200
    assert "Account 210987654321 is already registered, as “Staging”." in response.content.decode()
    assert AwsAccount.objects.count() == 1


def test_an_add_that_loses_a_race_is_a_form_error(client, administrator, monkeypatch):
    def other_request_won(**_):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr("findings.collection.views.add_account", other_request_won)
    client.force_login(administrator)
    response = client.post(reverse("aws_account_add"), VALID)
    assert response.status_code == 200
    assert "registered a moment ago" in response.content.decode()


def test_account_page_shows_settings_runs_and_an_edit_form_to_administrators(
    client, administrator, account
):
    make_run(account, ago=timedelta(hours=1), counts={"rows": 7})
    client.force_login(administrator)
    page = client.get(reverse("aws_account", args=[account.pk])).content.decode()
    assert ROLE_ARN in page
    assert "Change this account" in page
    assert 'value="Production"' in page
    assert "Recent runs" in page


def test_account_page_has_no_edit_form_for_reviewers(client, reviewer, account):
    client.force_login(reviewer)
    page = client.get(reverse("aws_account", args=[account.pk])).content.decode()
    assert "Change this account" not in page
    assert "Disable" not in page


def test_administrator_changes_an_account(client, administrator, account):
    client.force_login(administrator)
    response = client.post(
        reverse("aws_account_edit", args=[account.pk]),
        {"name": "Production EU", "role_arn": ROLE_ARN, "regions": "eu-west-1"},
    )
    assert response.url == reverse("aws_account", args=[account.pk])
    account.refresh_from_db()
    assert (account.name, account.regions) == ("Production EU", ["eu-west-1"])


def test_an_invalid_change_keeps_the_stored_account(client, administrator, account):
    client.force_login(administrator)
    response = client.post(
        reverse("aws_account_edit", args=[account.pk]),
        {"name": "Production", "role_arn": "not-an-arn", "regions": ""},
    )
    assert response.status_code == 200
    assert "A role ARN looks like" in response.content.decode()
    account.refresh_from_db()
    assert account.role_arn == ROLE_ARN


def test_disabling_and_enabling_an_account_is_idempotent(client, administrator, account):
    client.force_login(administrator)
    url = reverse("aws_account_toggle", args=[account.pk])
    for _ in range(2):  # the same form submitted twice leaves it disabled
        response = client.post(url, {"enabled": "false"})
        account.refresh_from_db()
        assert account.enabled is False
    assert "is disabled" in messages_of(response)[0]
    client.post(url, {"enabled": "true"})
    account.refresh_from_db()
    assert account.enabled is True


def test_accounts_list_shows_every_account_with_its_state(client, auditor, account):
    sandbox = add_account(account_id="210987654321", name="Sandbox")
    AwsAccount.objects.filter(pk=sandbox.pk).update(enabled=False)
    client.force_login(auditor)
    page = client.get(reverse("aws_accounts")).content.decode()
    assert "Production" in page and "Sandbox" in page
    assert "Disabled" in page


# --- File import --------------------------------------------------------------------------------


def test_import_form_explains_how_to_save_each_file_with_the_aws_cli(
    client, administrator, account
):
    client.force_login(administrator)
    page = client.get(reverse("collection_import")).content.decode()
    assert "aws iam get-credential-report --output text --query Content | base64 -d" in page
    assert "aws iam get-account-authorization-details &gt; authorization-details.json" in page
    assert "aws accessanalyzer list-findings-v2 --analyzer-arn ARN" in page


def test_import_without_any_account_asks_to_add_one_first(client, administrator):
    client.force_login(administrator)
    page = client.get(reverse("collection_import")).content.decode()
    assert "Add the AWS account first" in page


def test_importing_a_credential_report_stores_it_and_says_what_came_in(
    client, administrator, account
):
    client.force_login(administrator)
    response = client.post(
        reverse("collection_import"),
        {"account": account.pk, "kind": "credential-report", "file": upload()},
    )
    assert response.status_code == 302
    assert response.url == reverse("collection")
    assert CredentialReportEntry.objects.filter(account=account).count() == 6
    run = CollectionRun.objects.get()
    assert (run.trigger, run.status, run.detail) == ("import", "succeeded", "credential-report.csv")
    message = messages_of(response)[0]
    assert message.startswith("Imported credential-report.csv into Production (123456789012):")
    assert "6 rows" in message


def test_a_malformed_file_is_refused_naming_the_line_and_nothing_is_stored(
    client, administrator, account
):
    good = (DATA / "credential-report.csv").read_bytes().splitlines()
    bad = b"\n".join([good[0], good[1], b"mallory,arn:aws:iam::123456789012:user/mallory,oops"])
    client.force_login(administrator)
    response = client.post(
        reverse("collection_import"),
        {"account": account.pk, "kind": "credential-report", "file": upload("bad.csv", bad)},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "bad.csv was rejected, nothing was stored" in page
    assert "line 3" in page
    assert 'id="id_file_error"' in page
    assert not CredentialReportEntry.objects.exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    client, administrator, account, settings
):
    settings.IAMREVIEW_IMPORT_MAX_BYTES = 100
    client.force_login(administrator)
    response = client.post(
        reverse("collection_import"),
        {"account": account.pk, "kind": "credential-report", "file": upload()},
    )
    assert response.status_code == 200
    assert "IAMREVIEW_IMPORT_MAX_BYTES" in response.content.decode()
    assert not CollectionRun.objects.exists()


def test_import_while_a_collection_of_that_source_runs_is_refused(client, administrator, account):
    make_run(account, status="running", started_at=timezone.now())
    client.force_login(administrator)
    response = client.post(
        reverse("collection_import"),
        {"account": account.pk, "kind": "credential-report", "file": upload()},
    )
    assert response.status_code == 200
    assert "already running" in response.content.decode()
    assert not CredentialReportEntry.objects.exists()


def test_authorization_details_with_an_empty_list_mark_it_gone_only_as_a_complete_snapshot(
    client, administrator, account
):
    """Unticked, a type with no entries is kept (output made with `--filter` may hold the
    other types empty) and the message says how to record that none are left; ticked, the
    file is the whole account."""
    import json

    from findings.models import IamUser

    user = {
        "UserName": "alice",
        "UserId": "AIDAALICE",
        "Arn": "arn:aws:iam::123456789012:user/alice",
        "Path": "/",
        "CreateDate": "2021-01-01T00:00:00Z",
    }
    client.force_login(administrator)
    page = client.get(reverse("collection_import")).content.decode()
    assert 'type="checkbox" name="complete"' in page
    assert 'aria-describedby="id_complete_helptext"' in page

    def send(document, **extra):
        data = json.dumps(document).encode()
        form = {"account": account.pk, "kind": "authorization-details"}
        form["file"] = SimpleUploadedFile("gaad.json", data, content_type="application/json")
        return client.post(reverse("collection_import"), form | extra)

    send({"UserDetailList": [user], "RoleDetailList": []})
    kept = send({"UserDetailList": [], "RoleDetailList": []})
    assert IamUser.objects.filter(gone_at=None).count() == 1
    assert "no users in the file: the stored ones kept as they were" in messages_of(kept)[-1]

    send({"UserDetailList": [], "RoleDetailList": []}, complete="on")
    assert not IamUser.objects.filter(gone_at=None).exists()


def test_import_form_keeps_the_choices_after_an_error(client, administrator, account):
    client.force_login(administrator)
    response = client.post(
        reverse("collection_import"), {"account": account.pk, "kind": "credential-report"}
    )
    page = response.content.decode()
    checked = 'id="id_kind_0" aria-describedby="id_kind_0_command" required checked'
    assert checked in page
    assert "This field is required" in page


def test_the_collection_pages_recent_runs_do_not_sort_every_run_ever_made():
    """The Collection page (re-read every 2 s while a run is active) lists the 50 latest runs."""
    short, long = rows_read_at_two_sizes(lambda accounts: recent_runs(limit=RECENT_RUNS))
    assert_bounded(short, long)


def test_an_accounts_recent_runs_do_not_read_its_whole_history():
    """The account page (re-read every 2 s while a run is active) lists its 20 latest runs."""
    short, long = rows_read_at_two_sizes(
        lambda accounts: recent_runs(account=accounts[0], limit=ACCOUNT_RECENT_RUNS)
    )
    assert_bounded(short, long)
