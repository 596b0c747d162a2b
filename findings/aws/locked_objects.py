"""S3 objects under object lock (compliance mode): written once, unchangeable until they expire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from findings.aws.errors import translate


def put_locked_object(
    s3: Any, *, bucket: str, key: str, body: bytes, retain_until: datetime
) -> str:
    """Write `body` under compliance-mode retention; returns the s3:// address."""
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=retain_until,
            ChecksumAlgorithm="SHA256",  # object lock requires an integrity checksum
        )
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation="PutObject") from exc
    return f"s3://{bucket}/{key}"


def read_objects(s3: Any, *, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix`, by key."""
    found = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation="GetObject") from exc
    return found
