"""`import_file` of a realistic large account's authorization details, detection and
right-sizing included, at N and 4N users in the same run: the ratio shows work that grows
faster than the account.

    createdb -h 127.0.0.1 -U postgres iamimportbench     # its own database
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iamimportbench python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iamimportbench \\
        python bench/import_account.py --users 1000 [--profile out.prof]

Each size goes into a fresh account (its credential report first, then the authorization
details, timed). Prints the time, the statements and their database time, and what detection
counted; then the ratio (linear: about 4x).
"""

import argparse
import cProfile
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--profile", default="", help="write a cProfile of the larger import")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iamreview.settings")
    import django

    django.setup()
    logging.basicConfig(level=logging.WARNING)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from realistic_account import authorization_details, credential_report

    from findings.collection.imports import import_file
    from findings.collection.registry import add_account
    from findings.models import AwsAccount

    times = []
    for users in (args.users, 4 * args.users):
        account_id = f"5555{users:08}"[:12]
        AwsAccount.objects.filter(account_id=account_id).delete()
        account = add_account(account_id=account_id, name=f"bench {users}", regions=["us-east-1"])
        import_file(
            account=account,
            kind="credential-report",
            data=credential_report(account_id, users, seed=users),
            filename="credential-report.csv",
        )
        details = authorization_details(account_id, users, users // 4)
        profile = cProfile.Profile() if args.profile and users > args.users else None
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            if profile:
                profile.enable()
            run = import_file(
                account=account, kind="authorization-details", data=details, filename="gaad.json"
            )
            if profile:
                profile.disable()
            elapsed = time.perf_counter() - started
        times.append(elapsed)
        database = sum(float(q["time"]) for q in queries.captured_queries)
        print(
            f"{users:>6} users, {users // 4:>5} roles ({len(details) / 1e6:.1f} MB): "
            f"{elapsed:6.1f} s, {len(queries)} statements ({database:.1f} s in the database), "
            f"{run.status}; detection {run.counts.get('detection')}",
            flush=True,
        )
        if profile:
            profile.dump_stats(args.profile)
    print(f"ratio {times[1] / times[0]:.1f}x for 4x the users (linear: about 4x)")


if __name__ == "__main__":
    main()
