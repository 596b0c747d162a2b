"""Benchmark: collect one large simulated account and report AWS calls, time and rows written.

    python bench/collect.py --roles 2000 --users 1000 [--database-url postgres://...]

Builds the account in moto (in-process), collects users/roles/policies and the credential
report with the real collectors, then collects again (unchanged data must write no rows).
AWS calls are counted at botocore's client boundary.
"""

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=2000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args()

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iamreview.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    import boto3
    from botocore.client import BaseClient
    from moto import mock_aws

    from findings.collection.collectors import run_collection
    from findings.collection.registry import add_account
    from findings.collection.runs import claim_run
    from findings.models import AwsAccount, CollectionRun

    calls: collections.Counter = collections.Counter()
    original = BaseClient._make_api_call

    def counting(self, operation, params):
        calls[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return original(self, operation, params)

    with mock_aws():
        iam = boto3.client("iam")
        policy = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        )
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        )
        started = time.perf_counter()
        for i in range(args.roles):
            iam.create_role(RoleName=f"role-{i}", AssumeRolePolicyDocument=trust)
            iam.put_role_policy(RoleName=f"role-{i}", PolicyName="read", PolicyDocument=policy)
        for i in range(args.users):
            iam.create_user(UserName=f"user-{i}")
            if i % 2:
                iam.create_access_key(UserName=f"user-{i}")
        print(
            f"built {args.roles} roles and {args.users} users in moto in "
            f"{time.perf_counter() - started:.1f} s"
        )

        AwsAccount.objects.filter(account_id="123456789012").delete()
        account = add_account(account_id="123456789012", name="bench")
        BaseClient._make_api_call = counting
        try:
            for attempt in ("first", "again (unchanged)"):
                for source in ("authorization-details", "credential-report"):
                    calls.clear()
                    started = time.perf_counter()
                    run = run_collection(
                        run=claim_run(account=account, source=source, trigger="manual")
                    )
                    seconds = time.perf_counter() - started
                    written = {
                        k: v
                        for k, v in run.counts.items()
                        if k.endswith(("created", "updated", "gone")) and v
                    }
                    print(f"\n{source} ({attempt}): {run.status} in {seconds:.2f} s")
                    print(
                        f"  AWS calls: {sum(calls.values())}  "
                        + ", ".join(f"{name}={n}" for name, n in sorted(calls.items()))
                    )
                    print(f"  rows written: {sum(written.values())} {written or ''}")
                    if run.status != CollectionRun.Status.SUCCEEDED:
                        print(f"  error: {run.error}")
        finally:
            BaseClient._make_api_call = original


if __name__ == "__main__":
    main()
