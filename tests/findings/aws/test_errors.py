import pickle

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from findings.aws.errors import AwsError, ParseError, translate
from findings.aws.session import client


def client_error(code: str, operation: str, message: str = "", status: int = 400):
    """A genuine ClientError, produced by botocore itself from a stubbed AWS error response."""
    service, method = {
        "GetCredentialReport": ("iam", "get_credential_report"),
        "GetRole": ("iam", "get_role"),
        "AssumeRole": ("sts", "assume_role"),
        "ListFindingsV2": ("accessanalyzer", "list_findings_v2"),
    }[operation]
    aws = client(boto3.Session(), service)
    params = {
        "get_role": {"RoleName": "x"},
        "assume_role": {
            "RoleArn": "arn:aws:iam::111122223333:role/iamreview",
            "RoleSessionName": "s1",
        },
        "list_findings_v2": {"analyzerArn": "arn:aws:access-analyzer:us-east-1:1:analyzer/a"},
    }.get(method, {})
    with Stubber(aws) as stubber:
        stubber.add_client_error(method, code, message, status)
        with pytest.raises(ClientError) as raised:
            getattr(aws, method)(**params)
    return raised.value


def test_parse_error_reads_like_a_location_then_a_problem():
    assert str(ParseError("expected 22 columns, found 21", line=7)) == (
        "line 7: expected 22 columns, found 21"
    )
    assert (
        str(ParseError("missing", field="RoleDetailList[3].Arn"))
        == "RoleDetailList[3].Arn: missing"
    )
    assert str(ParseError("invalid JSON: Expecting value", line=2, column=5)) == (
        "line 2, column 5: invalid JSON: Expecting value"
    )
    assert str(ParseError("not a report")) == "not a report"
    assert isinstance(ParseError("x"), ValueError)


def test_both_errors_survive_pickling_for_task_queues():
    parse_error = pickle.loads(pickle.dumps(ParseError("bad", line=3, field="mfa_active")))
    assert (parse_error.line, parse_error.field, str(parse_error)) == (
        3,
        "mfa_active",
        "line 3, mfa_active: bad",
    )
    aws_error = pickle.loads(pickle.dumps(AwsError("AccessDenied", "no", "GetRole")))
    assert (aws_error.code, aws_error.operation) == ("AccessDenied", "GetRole")


def test_access_denied_names_the_permission_the_role_lacks():
    error = translate(client_error("AccessDenied", "GetCredentialReport", "denied", 403))
    assert (error.code, error.operation) == ("AccessDenied", "GetCredentialReport")
    assert error.readable() == (
        "Access denied: the role lacks iam:GetCredentialReport (check the role's policy and trust)"
    )
    assert str(error) == error.readable()


def test_access_denied_uses_the_iam_action_not_the_operation_name():
    error = translate(client_error("AccessDeniedException", "ListFindingsV2", "", 403))
    assert "lacks access-analyzer:ListFindings " in error.readable()


def test_access_denied_prefers_the_action_aws_names_in_its_message():
    message = (
        "User: arn:aws:sts::111122223333:assumed-role/iamreview/s1 is not authorized to perform: "
        "iam:GetRole on resource: role x because no identity-based policy allows the action"
    )
    assert (
        "lacks iam:GetRole "
        in translate(client_error("AccessDenied", "GetRole", message)).readable()
    )


def test_denied_assume_role_points_at_the_trust_policy_and_external_id():
    readable = translate(
        client_error("AccessDenied", "AssumeRole", "not authorized", 403)
    ).readable()
    assert "could not assume the role" in readable
    assert "trust policy" in readable and "ExternalId" in readable


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException", "RequestLimitExceeded"])
def test_throttling_says_to_slow_down(code):
    readable = translate(client_error(code, "GetRole", "Rate exceeded")).readable()
    assert readable.startswith("AWS is throttling requests")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling", 400),
        ("ThrottlingException", 429),
        ("InternalFailure", 500),
        ("ServiceUnavailable", 503),
        ("IDPCommunicationError", 400),
    ],
)
def test_throttling_and_failures_on_aws_side_are_worth_another_try_later(code, status):
    assert translate(client_error(code, "AssumeRole", "try later", status)).transient


def test_a_timeout_or_an_unreachable_endpoint_is_worth_another_try_later():
    assert translate(ReadTimeoutError(endpoint_url="https://sts.amazonaws.com")).transient
    assert AwsError("EndpointConnectionError", "no route to host").transient


@pytest.mark.parametrize(
    ("code", "status"),
    [("AccessDenied", 403), ("ValidationError", 400), ("ExpiredToken", 403)],
)
def test_a_refusal_or_a_bad_request_is_not_worth_another_try(code, status):
    assert not translate(client_error(code, "AssumeRole", "no", status)).transient


def test_expired_token_says_to_refresh_credentials():
    readable = translate(
        client_error("ExpiredToken", "GetRole", "The security token expired")
    ).readable()
    assert readable == (
        "The AWS credentials have expired; refresh the collector's credentials and retry"
    )


def test_unknown_role_is_a_not_found_with_the_aws_message():
    readable = translate(
        client_error("NoSuchEntity", "GetRole", "The role with name x cannot be found.", 404)
    ).readable()
    assert readable == "Not found: The role with name x cannot be found. (check the name or ARN)"


def test_invalid_role_arn_in_assume_role_is_explained():
    readable = translate(
        client_error("ValidationError", "AssumeRole", "1 validation error detected: roleArn")
    ).readable()
    assert readable.startswith("AWS rejected the role ARN or session settings")


def test_invalid_access_key_is_explained():
    readable = translate(
        client_error("InvalidClientTokenId", "GetRole", "The security token is invalid.", 403)
    ).readable()
    assert readable.startswith("AWS did not recognise the credentials")


def test_an_unexpected_code_still_names_code_operation_and_message():
    readable = translate(client_error("ServiceFailure", "GetRole", "Try again", 500)).readable()
    assert readable == "AWS error ServiceFailure in GetRole: Try again"


def test_an_unreachable_endpoint_is_explained(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=2)
    iam = boto3.Session().client("iam", config=config)
    with pytest.raises(EndpointConnectionError) as raised:
        iam.list_account_aliases()
    error = translate(raised.value, operation="ListAccountAliases")
    assert error.code == "EndpointConnectionError"
    assert error.readable().startswith("Could not reach AWS: Could not connect to the endpoint URL")
    assert "AWS_ENDPOINT_URL" in error.readable()


def test_missing_or_broken_credentials_are_explained():
    assert translate(NoCredentialsError()).readable().startswith("No AWS credentials found")
    readable = translate(ProfileNotFound(profile="prod")).readable()
    assert "No AWS credentials found" in readable and "prod" in readable


def test_read_timeout_is_a_timeout():
    error = translate(ReadTimeoutError(endpoint_url="https://iam.amazonaws.com"))
    assert error.code == "Timeout"


def test_translating_an_aws_error_returns_it_and_anything_else_is_a_bug():
    original = AwsError("Timeout", "waited")
    assert translate(original) is original
    with pytest.raises(TypeError):
        translate(KeyError("x"))


def test_an_html_error_page_quoted_as_python_bytes_reads_as_one_human_line():
    page = (
        "b'<!doctype html>\\n<html lang=en>\\n<title>500 Internal Server Error</title>\\n"
        "<h1>Internal Server Error</h1>\\n<p>The server encountered an internal error.</p>\\n'"
    )
    error = translate(client_error("500", "ListFindingsV2", page, status=500))
    text = str(error)
    assert text == (
        "The AWS endpoint answered with a server error (HTTP 500) in ListFindingsV2: the "
        "endpoint answered with an error page: 500 Internal Server Error"
    )
    assert "b'" not in text and "<" not in text and "\\n" not in text


def test_an_error_page_botocore_cannot_parse_is_an_aws_error_in_words():
    from botocore.parsers import ResponseParserError

    raw = ResponseParserError(
        "Unable to parse response (syntax error: line 1, column 0), invalid XML received. "
        "Further retries may succeed:\nb'<!doctype html>\\n<html lang=en>\\n"
        "<title>500 Internal Server Error</title>\\n<h1>Internal Server Error</h1>'"
    )
    error = translate(raw, operation="GenerateServiceLastAccessedDetails")
    assert str(error) == (
        "The endpoint's answer to GenerateServiceLastAccessedDetails is not an AWS response: "
        "the endpoint answered with an error page: 500 Internal Server Error"
    )
