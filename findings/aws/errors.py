"""The two kinds of failure this package reports: bad input and AWS saying no.

Both exceptions keep their constructor arguments in ``args`` so that they survive pickling
(Celery ships exceptions between processes).
"""

from __future__ import annotations

import ast
import re

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError


class ParseError(ValueError):
    """Input in an AWS format that we cannot read, located as precisely as we can.

    ``str()`` reads like "line 7: expected 22 columns, found 21" or
    "RoleDetailList[3].Arn: missing".
    """

    def __init__(
        self,
        message: str,
        line: int | None = None,
        field: str | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message, line, field, column)
        self.message = message
        self.line = line
        self.field = field
        self.column = column

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.field is not None:
            where.append(self.field)
        return f"{', '.join(where)}: {self.message}" if where else self.message


class AwsError(Exception):
    """A failed AWS call, with the AWS error code and a message a person can act on."""

    def __init__(self, code: str, message: str, operation: str | None = None) -> None:
        super().__init__(code, message, operation)
        self.code = code
        self.message = message
        self.operation = operation

    def __str__(self) -> str:
        return self.readable()

    def readable(self) -> str:
        return _readable(self.code, self.message, self.operation)

    @property
    def transient(self) -> bool:
        """Whether the same call may well succeed a little later: AWS throttled it (after
        botocore's own retries), was briefly out of reach or failed on its side."""
        return (
            self.code in TRANSIENT_CODES
            or self.code in THROTTLING_CODES
            or self.code in (TIMEOUT, ENDPOINT_UNREACHABLE)
            or (self.code.isdigit() and self.code.startswith("5"))
        )


# The IAM action each operation we call needs. Not always the operation name: ListFindingsV2 is
# authorised by access-analyzer:ListFindings, and AWS's denial message is not always present.
REQUIRED_PERMISSION = {
    "GenerateCredentialReport": "iam:GenerateCredentialReport",
    "GetCredentialReport": "iam:GetCredentialReport",
    "GetAccountAuthorizationDetails": "iam:GetAccountAuthorizationDetails",
    "GenerateServiceLastAccessedDetails": "iam:GenerateServiceLastAccessedDetails",
    "GetServiceLastAccessedDetails": "iam:GetServiceLastAccessedDetails",
    "ListAnalyzers": "access-analyzer:ListAnalyzers",
    "GetAnalyzer": "access-analyzer:GetAnalyzer",
    "ListFindings": "access-analyzer:ListFindings",
    "ListFindingsV2": "access-analyzer:ListFindings",
    "GetFinding": "access-analyzer:GetFinding",
    "GetFindingV2": "access-analyzer:GetFinding",
    "ListAccounts": "organizations:ListAccounts",
    "DescribeOrganization": "organizations:DescribeOrganization",
    "ListRoots": "organizations:ListRoots",
    "ListPolicies": "organizations:ListPolicies",
    "DescribePolicy": "organizations:DescribePolicy",
    "ListTargetsForPolicy": "organizations:ListTargetsForPolicy",
    "ListAccountsForParent": "organizations:ListAccountsForParent",
    "ListOrganizationalUnitsForParent": "organizations:ListOrganizationalUnitsForParent",
    "AssumeRole": "sts:AssumeRole",
}

ACCESS_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
}
THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
}
# Failures on AWS's side or on the way there, besides throttling: worth another try later.
TRANSIENT_CODES = {
    "LimitExceeded",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "InternalServerException",
    "ServiceFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
    "PriorRequestNotComplete",
}
EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
INVALID_CREDENTIAL_CODES = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidAccessKeyId",
}
NOT_FOUND_CODES = {"NoSuchEntity", "ResourceNotFoundException", "NotFoundException"}
INVALID_REQUEST_CODES = {
    "ValidationError",
    "ValidationException",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidInput",
    "MalformedPolicyDocument",
}

# Codes this package makes up for failures that are not a single AWS response.
UNREADABLE_RESPONSE = "UnreadableResponse"
NO_CREDENTIALS = "NoCredentials"
ENDPOINT_UNREACHABLE = "EndpointConnectionError"
TIMEOUT = "Timeout"


def _readable(code: str, message: str, operation: str | None) -> str:
    if code in ACCESS_DENIED_CODES:
        if operation == "AssumeRole":
            return (
                "Access denied: could not assume the role (check the role's trust policy, "
                "the ExternalId, and that the hub may call sts:AssumeRole)"
            )
        permission = _permission(operation, message)
        return f"Access denied: the role lacks {permission} (check the role's policy and trust)"
    if code in THROTTLING_CODES:
        return (
            "AWS is throttling requests (rate exceeded) even after retries; "
            "try again later or collect fewer accounts at once"
        )
    if code == "LimitExceeded":
        return f"AWS refused for now because a limit was reached; try again later ({message})"
    if code in EXPIRED_CODES:
        return "The AWS credentials have expired; refresh the collector's credentials and retry"
    if code in INVALID_CREDENTIAL_CODES:
        return (
            "AWS did not recognise the credentials (wrong or deleted access key, or wrong "
            f"partition): {message}"
        )
    if code in NOT_FOUND_CODES:
        if operation == "AssumeRole":
            return f"The role was not found: check the role ARN ({message})"
        return f"Not found: {message} (check the name or ARN)"
    if code in INVALID_REQUEST_CODES:
        if operation == "AssumeRole":
            return f"AWS rejected the role ARN or session settings: {message}"
        return f"AWS rejected the request as invalid: {message}"
    if code == "AWSOrganizationsNotInUseException":
        return "This account is not a member of an AWS Organization"
    if code == NO_CREDENTIALS:
        return (
            "No AWS credentials found: configure the standard chain (environment variables, "
            f"a profile, or an instance or task role). {message}"
        ).strip()
    if code == ENDPOINT_UNREACHABLE:
        return f"Could not reach AWS: {message} (check the network, proxy or AWS_ENDPOINT_URL)"
    if code == TIMEOUT:
        return f"Gave up waiting: {message}"
    if code == UNREADABLE_RESPONSE:
        where = f" to {operation}" if operation else ""
        return f"The endpoint's answer{where} is not an AWS response: {message}"
    where = f" in {operation}" if operation else ""
    if code.isdigit():  # no AWS error code: the HTTP status of a response AWS did not shape
        kind = "a server error" if code.startswith("5") else "an error"
        return f"The AWS endpoint answered with {kind} (HTTP {code}){where}: {message}"
    return f"AWS error {code}{where}: {message}"


def _permission(operation: str | None, message: str) -> str:
    # AWS's own denial names the exact action ("... not authorized to perform: iam:GetRole on ...").
    match = re.search(r"perform: ([\w-]+:[\w*]+)", message)
    if match:
        return match.group(1)
    if operation in REQUIRED_PERMISSION:
        return REQUIRED_PERMISSION[operation]
    return f"permission for {operation}" if operation else "a required permission"


def error_code(exc: ClientError) -> str:
    """The AWS error code; botocore's exception class names differ from the codes."""
    return exc.response.get("Error", {}).get("Code", "Unknown")


def _unbytes(message: str) -> str:
    """botocore quotes an unparsable body as Python bytes (`b'<!doctype html>...'`)."""
    text = message.strip()
    if text[:2] in ("b'", 'b"') and text[-1:] == text[1]:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return message
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
    return message


def plain_message(message: str, *, limit: int = 300) -> str:
    """One readable line: an endpoint that answers with an HTML error page is not quoted whole
    (its title says what went wrong), nor as Python bytes."""
    message = _unbytes(message)
    title = re.search(r"<title[^>]*>(.*?)</title>", message, flags=re.S | re.I)
    if title and title.group(1).strip():
        return plain_message(f"the endpoint answered with an error page: {title.group(1)}")
    if "<" in message and ">" in message:
        message = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", message, flags=re.S | re.I)
        message = re.sub(r"<[^>]+>", " ", message)
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


# Everything botocore raises for a failed call (ResponseParserError is not a BotoCoreError).
AWS_EXCEPTIONS = (ClientError, BotoCoreError, ResponseParserError)


def translate(exc: BaseException, *, operation: str | None = None) -> AwsError:
    """Turn a botocore exception into an AwsError with a readable message."""
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return AwsError(
            error.get("Code", "Unknown"),
            plain_message(error.get("Message", "") or str(exc)),
            operation or getattr(exc, "operation_name", None),
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        detail = "" if isinstance(exc, NoCredentialsError) else str(exc)
        return AwsError(NO_CREDENTIALS, detail, operation)
    if isinstance(exc, CredentialRetrievalError):
        return AwsError(NO_CREDENTIALS, str(exc), operation)
    if isinstance(exc, ReadTimeoutError):
        return AwsError(TIMEOUT, f"AWS did not answer in time ({exc})", operation)
    if isinstance(exc, ConnectionError):
        return AwsError(ENDPOINT_UNREACHABLE, str(exc), operation)
    if isinstance(exc, NoRegionError):
        return AwsError("NoRegion", "no AWS region configured (set AWS_DEFAULT_REGION)", operation)
    if isinstance(exc, ResponseParserError):  # an HTML error page instead of XML or JSON
        return AwsError(UNREADABLE_RESPONSE, plain_message(str(exc)), operation)
    if isinstance(exc, BotoCoreError):
        return AwsError(type(exc).__name__, str(exc), operation)
    raise TypeError(f"not an AWS exception: {exc!r}") from exc
