"""LOG_FORMAT=json: every line a collection run writes is a JSON object with its run id,
account and source, including lines from code the run calls."""

import io
import json
import logging

import boto3
import pytest
from django.conf import settings
from moto import mock_aws

from findings.models import Source
from iamreview.log_context import ContextFilter, log_context
from tests.findings.collection.test_collectors import HUB, collect, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_log():
    """The console handler exactly as settings.LOGGING builds it for LOG_FORMAT=json."""
    options = dict(settings.LOGGING["formatters"]["json"])
    formatter_class = options.pop("()")
    module, _, name = formatter_class.rpartition(".")
    formatter = getattr(__import__(module, fromlist=[name]), name)(**options)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_every_collection_line_carries_the_run_and_the_account(json_log):
    with mock_aws():
        boto3.client("iam").create_user(UserName="alice")
        run = collect(register(HUB, own_credentials=True), Source.AUTHORIZATION_DETAILS)
    logging.getLogger("elsewhere").info("Outside any run")

    lines = json_log()
    during = [line for line in lines if line["message"] != "Outside any run"]
    assert [line["message"] for line in during][:1] == ["Collection started"]
    assert during[-1]["message"] == f"Collection {run.status}"
    assert during[-1]["status"] == run.status
    for line in during:
        assert (line["run_id"], line["account"], line["source"]) == (
            run.pk,
            HUB,
            "authorization-details",
        )
        assert {"time", "level", "logger"} <= set(line) and "context" not in line
    (outside,) = [line for line in lines if line["message"] == "Outside any run"]
    assert "run_id" not in outside


def test_the_plain_format_names_the_run_too():
    record = logging.LogRecord("findings", logging.INFO, __file__, 1, "hello", None, None)
    with log_context(run_id=7, account="111122223333"):
        ContextFilter().filter(record)
    formatted = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]).format(record)
    assert formatted.endswith("hello run_id=7 account=111122223333")


def test_a_refusal_is_logged_as_one_line_without_its_traceback():
    import logging
    import sys

    from django.core.exceptions import PermissionDenied

    from iamreview.log_context import RefusalsWithoutTraceback

    def record_of(exc: Exception) -> logging.LogRecord:
        try:
            raise exc
        except Exception:  # noqa: BLE001 - any exception, as Django logs it
            return logging.LogRecord("django.request", 30, "", 0, "x", (), sys.exc_info())

    refused, failed = record_of(PermissionDenied("Reviewers only")), record_of(ValueError("boom"))
    keep = RefusalsWithoutTraceback()
    assert keep.filter(refused) and refused.exc_info is None
    assert keep.filter(failed) and failed.exc_info is not None
