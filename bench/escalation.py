"""Escalation's cost as an account grows: users with AWS's manage-your-own-credentials policy
(given to every user in most organizations), some with AssumeRole on roles trusting the account.

    python bench/escalation.py --users 2500 --roles 500

Pure policy code, no database. Prints the time for N and 4N users (and roles) and their ratio:
linear work gives about 4x, the square of the users gave 16x (4 s at 500 users before the
targets were narrowed to those a grant names).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ACCOUNT = "111122223333"
IAM = f"arn:aws:iam::{ACCOUNT}"
SELF_SERVICE = {
    "Effect": "Allow",
    "Action": [
        "iam:CreateAccessKey",
        "iam:DeleteAccessKey",
        "iam:UpdateAccessKey",
        "iam:CreateLoginProfile",
        "iam:UpdateLoginProfile",
        "iam:ChangePassword",
        "iam:GetUser",
    ],
    "Resource": "arn:aws:iam::*:user/${aws:username}",
}
READ = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
ROOT_TRUST = {
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"{IAM}:root"}, "Action": "sts:AssumeRole"}
    ]
}


def build(users: int, roles: int):
    from findings.policy.effective import Policy, effective_permissions
    from findings.policy.escalation import Account

    def perms(arn: str, *statements):
        return effective_permissions(
            principal_arn=arn,
            principal_name=arn.rpartition("/")[2],
            policies=[Policy("p", "managed", {"Statement": list(statements)})],
        )

    principals = {}
    for n in range(users):
        arn = f"{IAM}:user/team-{n % 50}/u{n}"
        # One user in ten may assume its team's roles.
        assume = {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": f"{IAM}:role/team-{n % 50}-*",
        }
        principals[arn] = perms(arn, SELF_SERVICE, READ, *([assume] if n % 10 == 0 else []))
    trust = {}
    for n in range(roles):
        arn = f"{IAM}:role/team-{n % 50}-r{n}"
        # A few administrator roles: a chain to one is a finding.
        grant = {
            "Effect": "Allow",
            "Action": "*" if n % 100 == 0 else "dynamodb:*",
            "Resource": "*",
        }
        principals[arn] = perms(arn, READ, grant)
        trust[arn] = ROOT_TRUST
    return Account(account_id=ACCOUNT, principals=principals, trust=trust)


def measure(users: int, roles: int) -> tuple[float, int]:
    from findings.policy.escalation import escalation_methods, escalation_path

    account = build(users, roles)
    started = time.perf_counter()
    found = 0
    for arn, perms in account.principals.items():
        if perms.is_admin:
            continue  # as detection: an administrator has nothing to escalate to
        found += len(escalation_methods(principal_arn=arn, account=account))
        found += bool(escalation_path(principal_arn=arn, account=account))
    return time.perf_counter() - started, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2500)
    parser.add_argument("--roles", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iamreview.settings")
    measure(200, 40)  # warm the action database's caches
    small, found_small = measure(args.users, args.roles)
    large, found_large = measure(4 * args.users, 4 * args.roles)
    for count, roles, elapsed, found in (
        (args.users, args.roles, small, found_small),
        (4 * args.users, 4 * args.roles, large, found_large),
    ):
        print(f"{count:>6} users, {roles:>5} roles: {elapsed:6.2f} s ({found} found)")
    print(f"ratio {large / small:.1f}x for 4x the principals (linear: about 4x; square: 16x)")


if __name__ == "__main__":
    main()
