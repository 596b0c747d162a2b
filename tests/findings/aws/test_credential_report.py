from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.iam.models import AccessKeyLastUsed, iam_backends

from findings.aws.credential_report import (
    COLUMNS,
    fetch_credential_report,
    parse_credential_report,
)
from findings.aws.errors import AwsError, ParseError
from findings.aws.session import client

HEADER = ",".join(COLUMNS)
ALICE = (
    "alice,arn:aws:iam::111122223333:user/alice,2021-05-03T10:00:00+00:00,true,"
    "2026-10-31T08:44:02+00:00,2026-09-01T10:00:00+00:00,N/A,true,true,"
    "2026-09-15T12:00:00+00:00,2026-10-31T07:10:00+00:00,eu-west-1,ec2,"
    "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
)


def report(*rows: str, header: str = HEADER, newline: str = "\n") -> bytes:
    return newline.join([header, *rows, ""]).encode()


def with_column(row: str, column: str, value: str) -> str:
    values = row.split(",")
    values[COLUMNS.index(column)] = value
    return ",".join(values)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def sample_rows(sample):
    rows = parse_credential_report(sample("credential-report.csv"))
    return {row.user: row for row in rows}


# --- Parsing the sample report ------------------------------------------------------------------


def test_sample_report_has_one_record_per_row_with_line_numbers(sample_rows):
    assert list(sample_rows) == [
        "<root_account>",
        "alice",
        "bob",
        "ci-deployer",
        "new-hire",
        "former-contractor",
    ]
    assert [row.line_number for row in sample_rows.values()] == [2, 3, 4, 5, 6, 7]


def test_every_column_of_an_active_user_is_read(sample_rows):
    alice = sample_rows["alice"]
    assert alice.arn == "arn:aws:iam::111122223333:user/alice"
    assert alice.user_creation_time == utc(2021, 5, 3, 10, 0, 0)
    assert (alice.password_enabled, alice.password_enabled_reason) == (True, None)
    assert alice.password_last_used == utc(2026, 10, 31, 8, 44, 2)
    assert alice.password_last_used_reason is None
    assert alice.password_last_changed == utc(2026, 9, 1, 10, 0, 0)
    assert (alice.password_next_rotation, alice.password_next_rotation_reason) == (None, "N/A")
    assert alice.mfa_active is True
    assert alice.access_key_1_active is True
    assert alice.access_key_1_last_rotated == utc(2026, 9, 15, 12, 0, 0)
    assert alice.access_key_1_last_used_date == utc(2026, 10, 31, 7, 10, 0)
    assert alice.access_key_1_last_used_region == "eu-west-1"
    assert alice.access_key_1_last_used_service == "ec2"
    assert alice.access_key_2_active is False
    assert (alice.access_key_2_last_rotated, alice.access_key_2_last_rotated_reason) == (
        None,
        "N/A",
    )
    assert alice.access_key_2_last_used_date_reason == "N/A"
    assert alice.access_key_2_last_used_region is None
    assert alice.access_key_2_last_used_service is None
    assert (alice.cert_1_active, alice.cert_1_last_rotated_reason) == (False, "N/A")
    assert (alice.cert_2_active, alice.cert_2_last_rotated_reason) == (False, "N/A")
    assert alice.is_root is False


def test_root_row_is_recognised_and_keeps_its_not_supported_reasons(sample_rows):
    root = sample_rows["<root_account>"]
    assert root.is_root
    assert root.arn == "arn:aws:iam::111122223333:root"
    assert (root.password_enabled, root.password_enabled_reason) == (None, "not_supported")
    assert root.password_last_used == utc(2026, 10, 30, 17, 2, 11)
    assert (root.password_last_changed, root.password_last_changed_reason) == (
        None,
        "not_supported",
    )
    assert root.password_next_rotation_reason == "not_supported"
    assert root.mfa_active is True


def test_never_used_password_is_told_apart_from_no_password(sample_rows):
    bob, ci_deployer = sample_rows["bob"], sample_rows["ci-deployer"]
    assert (bob.password_last_used, bob.password_last_used_reason) == (None, "no_information")
    assert (ci_deployer.password_last_used, ci_deployer.password_last_used_reason) == (None, "N/A")
    assert ci_deployer.password_enabled is False


def test_key_last_used_by_a_global_service_has_a_service_but_no_region(sample_rows):
    bob = sample_rows["bob"]
    assert bob.access_key_1_last_used_date == utc(2025, 12, 24, 16, 20, 0)
    assert bob.access_key_1_last_used_region is None
    assert bob.access_key_1_last_used_service == "s3"


def test_active_key_that_was_never_used_has_a_rotation_date_and_na_last_use(sample_rows):
    bob, new_hire = sample_rows["bob"], sample_rows["new-hire"]
    assert bob.access_key_2_active is True
    assert bob.access_key_2_last_rotated == utc(2024, 3, 1)
    assert (bob.access_key_2_last_used_date, bob.access_key_2_last_used_date_reason) == (
        None,
        "N/A",
    )
    assert new_hire.password_next_rotation == utc(2027, 1, 26, 14, 0, 0)


def test_inactive_key_and_active_certificate_are_read(sample_rows):
    contractor = sample_rows["former-contractor"]
    assert contractor.access_key_1_active is False
    assert contractor.access_key_1_last_used_region == "us-west-2"
    assert contractor.cert_1_active is True
    assert contractor.cert_1_last_rotated == utc(2018, 4, 2, 11, 13, 0)


# --- Special values, formats and encodings ------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("no_information", "no_information"),
        ("N/A", "N/A"),
        ("n/a", "N/A"),
        ("not_supported", "not_supported"),
        ("NOT_SUPPORTED", "not_supported"),
    ],
)
@pytest.mark.parametrize(
    "column",
    [
        "password_last_used",
        "password_last_changed",
        "password_next_rotation",
        "access_key_1_last_rotated",
        "access_key_1_last_used_date",
        "access_key_2_last_rotated",
        "access_key_2_last_used_date",
        "cert_1_last_rotated",
        "cert_2_last_rotated",
    ],
)
def test_every_special_value_is_accepted_in_every_date_column(column, token, reason):
    (row,) = parse_credential_report(report(with_column(ALICE, column, token)))
    assert getattr(row, column) is None
    assert getattr(row, f"{column}_reason") == reason


def test_moto_style_not_supported_region_and_service_read_as_none():
    row_text = with_column(ALICE, "access_key_1_last_used_region", "not_supported")
    row_text = with_column(row_text, "access_key_1_last_used_service", "not_supported")
    (row,) = parse_credential_report(report(row_text))
    assert row.access_key_1_last_used_region is None
    assert row.access_key_1_last_used_service is None


def test_dates_with_z_or_other_offsets_become_utc():
    row_text = with_column(ALICE, "password_last_used", "2026-10-31T08:44:02Z")
    row_text = with_column(row_text, "access_key_1_last_used_date", "2026-10-31T09:10:00+02:00")
    (row,) = parse_credential_report(report(row_text))
    assert row.password_last_used == utc(2026, 10, 31, 8, 44, 2)
    assert row.access_key_1_last_used_date == utc(2026, 10, 31, 7, 10, 0)
    assert row.password_last_used.tzinfo is UTC


def test_booleans_are_read_in_any_case():
    row_text = with_column(ALICE, "mfa_active", "TRUE")
    row_text = with_column(row_text, "password_enabled", "False")
    (row,) = parse_credential_report(report(row_text))
    assert row.mfa_active is True
    assert row.password_enabled is False


def test_crlf_line_endings_and_a_byte_order_mark_are_accepted(sample):
    original = sample("credential-report.csv")
    windows = b"\xef\xbb\xbf" + original.replace(b"\n", b"\r\n")
    assert parse_credential_report(windows) == parse_credential_report(original)


def test_a_report_with_only_its_header_is_refused_not_read_as_no_users():
    """AWS's report always lists the root: read as "no users", a cut download marked every
    user gone and resolved their credential findings."""
    with pytest.raises(ParseError, match="line 2: the report lists no one, not even"):
        parse_credential_report(report())


def test_a_user_listed_twice_is_refused_naming_both_lines():
    """A hand-merged file: the first row had been kept silently, whatever the second said."""
    inactive_key = with_column(ALICE, "access_key_1_active", "false")
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(ALICE, inactive_key))
    assert str(raised.value) == (
        "line 3: alice (arn:aws:iam::111122223333:user/alice) is listed again (first on line "
        "2): a report lists each user once"
    )


# --- Malformed input ----------------------------------------------------------------------------


def test_row_with_a_missing_column_names_its_line():
    short = ALICE.rsplit(",", 1)[0]
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(ALICE, short))
    assert str(raised.value) == "line 3: expected 22 columns, found 21"
    assert raised.value.line == 3


def test_bad_date_names_line_and_column():
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(with_column(ALICE, "password_last_used", "yesterday")))
    assert raised.value.line == 2
    assert raised.value.field == "password_last_used"
    assert str(raised.value).startswith("line 2, password_last_used: expected a date")
    assert "'yesterday'" in str(raised.value)


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "1969-12-31T23:59:59+00:00",
        "2200-01-01T00:00:00+00:00",
    ],
)
def test_a_date_no_aws_output_has_is_refused_naming_line_and_column(value):
    """The edges of the calendar were a 500 (OverflowError converting to UTC)."""
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(with_column(ALICE, "password_last_used", value)))
    assert (raised.value.line, raised.value.field) == (2, "password_last_used")
    assert "outside the dates AWS writes (1970 to 2199)" in str(raised.value)


def test_bad_boolean_names_line_and_column():
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(ALICE, with_column(ALICE, "mfa_active", "yes")))
    assert str(raised.value) == "line 3, mfa_active: expected true or false, found 'yes'"


def test_not_supported_is_allowed_only_in_password_enabled_among_booleans():
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(with_column(ALICE, "access_key_1_active", "not_supported")))
    assert raised.value.field == "access_key_1_active"


def test_user_creation_time_must_be_a_real_date():
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(with_column(ALICE, "user_creation_time", "N/A")))
    assert raised.value.field == "user_creation_time"


def test_header_missing_a_column_names_it():
    header = HEADER.replace(",mfa_active", "")
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(header=header))
    assert (
        str(raised.value) == "line 1: not a credential report header: missing column 'mfa_active'"
    )


def test_header_with_an_unknown_column_names_it():
    header = HEADER.replace("mfa_active", "mfa_enabled")
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(header=header))
    assert "missing column 'mfa_active'" in str(raised.value)
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(header=HEADER + ",password_age"))
    assert "unexpected column 'password_age'" in str(raised.value)


def test_header_with_columns_out_of_order_says_where():
    swapped = list(COLUMNS)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(ParseError) as raised:
        parse_credential_report(report(header=",".join(swapped)))
    assert str(raised.value) == "line 1: column 1 should be 'user', found 'arn'"


def test_empty_file_is_not_a_report():
    with pytest.raises(ParseError, match="header row is missing"):
        parse_credential_report(b"")


def test_binary_garbage_is_not_a_report():
    with pytest.raises(ParseError, match="not UTF-8"):
        parse_credential_report(b"\xff\xfe\x00garbage")


# --- Fetching with moto -------------------------------------------------------------------------


@mock_aws
def test_fetch_generates_a_report_when_none_exists_and_reads_moto_values():
    iam = client(boto3.Session(), "iam")
    iam.create_user(UserName="alice")
    iam.create_login_profile(UserName="alice", Password="correct-horse-battery")
    key_id = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="robot")
    backend = iam_backends["123456789012"]["aws"]
    used = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    backend.users["alice"].password_last_used = used
    backend.access_keys[key_id].last_used = AccessKeyLastUsed(
        timestamp=used - timedelta(days=1), service="s3", region="us-east-1"
    )
    sleeps = []

    result = fetch_credential_report(iam, sleep=sleeps.append)

    rows = {row.user: row for row in result.rows}
    assert set(rows) == {"alice", "robot"}  # moto writes no root row
    assert rows["alice"].password_last_used == used
    assert rows["alice"].access_key_1_active is True
    assert rows["alice"].access_key_1_last_used_date == used - timedelta(days=1)
    # moto writes not_supported where AWS writes N/A.
    assert rows["robot"].password_last_used_reason == "not_supported"
    assert rows["alice"].password_next_rotation_reason == "not_supported"
    assert result.content.startswith(b"user,arn,")
    assert result.generated_at.tzinfo is UTC
    assert sleeps == [1.0]  # Generate said STARTED once


@mock_aws
def test_fetch_reads_an_existing_report_without_generating():
    iam = client(boto3.Session(), "iam")
    iam.create_user(UserName="alice")
    iam.generate_credential_report()
    with Stubber(iam) as stubber:
        stubber.add_response(
            "get_credential_report",
            {
                "Content": report(ALICE),
                "ReportFormat": "text/csv",
                "GeneratedTime": utc(2026, 11, 1),
            },
        )
        result = fetch_credential_report(iam, sleep=pytest.fail)
    assert result.generated_at == utc(2026, 11, 1)
    assert [row.user for row in result.rows] == ["alice"]


# --- Fetching: the generate and wait protocol (Stubber) -----------------------------------------


@pytest.fixture
def stubbed_iam():
    iam = client(boto3.Session(), "iam")
    with Stubber(iam) as stubber:
        yield iam, stubber
        stubber.assert_no_pending_responses()


def report_response(content: bytes = report(ALICE)) -> dict:
    return {"Content": content, "ReportFormat": "text/csv", "GeneratedTime": utc(2026, 11, 1, 9)}


def test_missing_report_is_generated_and_polled_with_growing_waits(stubbed_iam):
    iam, stubber = stubbed_iam
    stubber.add_client_error("get_credential_report", "ReportNotPresent", http_status_code=410)
    stubber.add_response("generate_credential_report", {"State": "STARTED"})
    stubber.add_response("generate_credential_report", {"State": "INPROGRESS"})
    stubber.add_response("generate_credential_report", {"State": "COMPLETE"})
    stubber.add_client_error("get_credential_report", "ReportInProgress", http_status_code=404)
    stubber.add_response("get_credential_report", report_response())
    sleeps = []

    result = fetch_credential_report(iam, sleep=sleeps.append)

    assert sleeps == [1.0, 2.0, 4.0]
    assert result.generated_at == utc(2026, 11, 1, 9)
    assert result.rows[0].user == "alice"


def test_expired_report_is_regenerated(stubbed_iam):
    iam, stubber = stubbed_iam
    stubber.add_client_error("get_credential_report", "ReportExpired", http_status_code=410)
    stubber.add_response("generate_credential_report", {"State": "COMPLETE"})
    stubber.add_response("get_credential_report", report_response())
    sleeps = []
    assert fetch_credential_report(iam, sleep=sleeps.append).rows[0].user == "alice"
    assert sleeps == []


def test_limit_exceeded_while_generating_backs_off_and_retries(stubbed_iam):
    iam, stubber = stubbed_iam
    stubber.add_client_error("get_credential_report", "ReportNotPresent", http_status_code=410)
    stubber.add_client_error(
        "generate_credential_report",
        "LimitExceeded",
        "No more capacity to launch new report generation tasks",
        http_status_code=409,
    )
    stubber.add_client_error("generate_credential_report", "LimitExceeded", http_status_code=409)
    stubber.add_response("generate_credential_report", {"State": "COMPLETE"})
    stubber.add_response("get_credential_report", report_response())
    sleeps = []
    fetch_credential_report(iam, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0]


def test_report_still_missing_after_generation_waits_before_generating_again(stubbed_iam):
    iam, stubber = stubbed_iam
    stubber.add_client_error("get_credential_report", "ReportNotPresent", http_status_code=410)
    stubber.add_response("generate_credential_report", {"State": "COMPLETE"})
    stubber.add_client_error("get_credential_report", "ReportNotPresent", http_status_code=410)
    stubber.add_response("generate_credential_report", {"State": "COMPLETE"})
    stubber.add_response("get_credential_report", report_response())
    sleeps = []
    fetch_credential_report(iam, sleep=sleeps.append)
    assert sleeps == [1.0]


def test_gives_up_with_a_timeout_error_when_the_report_never_finishes(stubbed_iam):
    iam, stubber = stubbed_iam
    for _ in range(3):
        stubber.add_client_error("get_credential_report", "ReportInProgress", http_status_code=404)
    sleeps = []
    with pytest.raises(AwsError) as raised:
        fetch_credential_report(iam, sleep=sleeps.append, max_wait_seconds=3)
    assert sleeps == [1.0, 2.0]
    assert raised.value.code == "Timeout"
    assert "still being generated after 3 seconds" in raised.value.readable()


def test_access_denied_is_reported_with_the_missing_permission(stubbed_iam):
    iam, stubber = stubbed_iam
    stubber.add_client_error("get_credential_report", "AccessDenied", "User is not authorized")
    with pytest.raises(AwsError) as raised:
        fetch_credential_report(iam, sleep=pytest.fail)
    assert raised.value.code == "AccessDenied"
    assert raised.value.operation == "GetCredentialReport"
    assert raised.value.readable() == (
        "Access denied: the role lacks iam:GetCredentialReport (check the role's policy and trust)"
    )


def test_throttling_that_outlasts_retries_is_a_readable_error(stubbed_iam):
    iam, stubber = stubbed_iam
    stubber.add_client_error("get_credential_report", "Throttling", "Rate exceeded", 400)
    with pytest.raises(AwsError) as raised:
        fetch_credential_report(iam, sleep=pytest.fail)
    assert "throttling" in raised.value.readable()


def test_a_malformed_report_from_aws_is_a_parse_error(stubbed_iam):
    iam, stubber = stubbed_iam
    stubber.add_response("get_credential_report", report_response(b"not,a,report\n"))
    with pytest.raises(ParseError, match="missing column 'user'"):
        fetch_credential_report(iam, sleep=pytest.fail)
