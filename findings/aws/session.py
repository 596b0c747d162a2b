"""Sessions and clients: the hub's own credentials, and a role assumed in each spoke account.

Endpoints are never set here: boto3 honours AWS_ENDPOINT_URL(_<SERVICE>), which is how a local
emulator stands in for AWS.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import boto3
import botocore
from botocore.config import Config

from findings.aws.errors import AWS_EXCEPTIONS, translate

ROLE_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov|aws-eusc|aws-iso|aws-iso-[a-z])"
    r":iam::(?P<account>\d{12}):role/(?P<name>[\w+=,.@/-]{1,512})\Z",
    re.ASCII,  # IAM names are ASCII letters, digits and +=,.@_-
)
# The same, as a JSON Schema (ECMA) pattern: the API's document.
ROLE_ARN_PATTERN = (
    r"^arn:(aws|aws-cn|aws-us-gov|aws-eusc|aws-iso|aws-iso-[a-z]):iam::[0-9]{12}"
    r":role/[A-Za-z0-9_+=,.@/-]{1,512}$"
)


ARN_PARTITION = re.compile(r"^arn:(aws|aws-cn|aws-us-gov|aws-eusc|aws-iso|aws-iso-[a-z]):")


def arn_partition(arn: str) -> str | None:
    """The partition an ARN names (aws, aws-cn, aws-us-gov, ...); None for no known one."""
    match = ARN_PARTITION.match(arn) if isinstance(arn, str) else None
    return match.group(1) if match else None


@cache
def region_partition(region: str) -> str:
    """The partition a region is in (cn-north-1: aws-cn); aws for one botocore does not know."""
    try:
        return boto3.session.Session().get_partition_for_region(region)
    except Exception:  # UnknownRegionError, or a botocore too old to know the region
        return "aws"


@cache
def known_regions() -> frozenset[str]:
    """Every region of every partition botocore knows (EC2 is in all of them)."""
    session = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


def botocore_version() -> str:
    return botocore.__version__


def is_role_arn(arn: str) -> bool:
    return bool(ROLE_ARN.match(arn.strip()))


def client_config() -> Config:
    """Retries and timeouts for every client.

    Adaptive mode adds client-side rate limiting on top of retries, which is what keeps a
    collection of many accounts under IAM's throttling limits.
    """
    return Config(
        retries={"mode": "adaptive", "max_attempts": 10},
        connect_timeout=10,
        read_timeout=60,
        # Room for the threads of service_last_accessed to share one client.
        max_pool_connections=20,
        user_agent_extra="iamreview",
    )


# What the rest of the app may name as a type without importing boto3 itself.
Session = boto3.Session


def hub_session() -> boto3.Session:
    """The collector's own credentials: environment, profile, or instance/task role."""
    return boto3.Session()


# IAM, STS and Organizations are global: without a configured region, use their home region
# rather than failing (a collector on a host with no AWS_DEFAULT_REGION).
DEFAULT_REGION = "us-east-1"


def client(session: boto3.Session, service: str, region: str | None = None) -> Any:
    region = region or session.region_name or DEFAULT_REGION
    return session.client(service, region_name=region, config=client_config())


def account_id_from_role_arn(arn: str) -> str:
    """The 12-digit account of a role ARN; ValueError saying what is wrong otherwise."""
    match = ROLE_ARN.match(arn.strip()) if isinstance(arn, str) else None
    if match:
        return match.group("account")
    hint = "expected arn:aws:iam::<12-digit account id>:role/<role name>"
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"{arn!r} is not an ARN: {hint}")
    if parts[2] != "iam":
        raise ValueError(f"{arn!r} is not an IAM ARN (service is {parts[2]!r}): {hint}")
    if not re.fullmatch(r"[0-9]{12}", parts[4]):
        raise ValueError(f"{arn!r} has no 12-digit account id: {hint}")
    if not parts[5].startswith("role/"):
        raise ValueError(f"{arn!r} names a {parts[5].split('/')[0]!r}, not a role: {hint}")
    raise ValueError(f"{arn!r} is not a valid role ARN: {hint}")


def assume_role_session(
    *,
    role_arn: str,
    external_id: str | None = None,
    session_name: str = "iamreview",
    base_session: boto3.Session | None = None,
    duration_seconds: int = 3600,
) -> boto3.Session:
    """A session acting as ``role_arn``. Raises ValueError for a malformed ARN, AwsError else.

    The credentials do not refresh: one session is meant for one unit of work (one account's
    collection), which AWS caps at an hour anyway when roles are chained.
    """
    account_id_from_role_arn(role_arn)
    base = base_session or hub_session()
    request: dict[str, Any] = {
        "RoleArn": role_arn.strip(),
        "RoleSessionName": session_name,
        "DurationSeconds": duration_seconds,
    }
    # Sent only when configured: AWS rejects an empty ExternalId (it must be 2+ characters).
    if external_id:
        request["ExternalId"] = external_id
    try:
        credentials = client(base, "sts").assume_role(**request)["Credentials"]
    except AWS_EXCEPTIONS as exc:
        raise translate(exc, operation="AssumeRole") from exc
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=base.region_name,
    )
