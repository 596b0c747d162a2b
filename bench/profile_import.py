"""Where `import_file`'s time goes: CPU profile and statements of one credential-report import.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iam9bench \\
        python bench/profile_import.py --users 10000 [--top 40] [--sort cumtime]

Imports a generated report of `--users` users (the one `scale.py` measures) into an account of
its own, made for the purpose and removed afterwards, once unprofiled (wall time) and once under
cProfile, and prints the statements that took longest. A tool for finding hot spots, not a
benchmark: `scale.py` measures.
"""

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import credential_report  # noqa: E402

ACCOUNT_ID = "999900000001"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--statements", type=int, default=12, help="slowest statements to print")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iamreview.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from findings.collection.imports import import_file
    from findings.collection.registry import add_account
    from findings.models import AwsAccount

    report = credential_report(ACCOUNT_ID, args.users, seed=99)

    def fresh_account():
        AwsAccount.objects.filter(account_id=ACCOUNT_ID).delete()
        return add_account(account_id=ACCOUNT_ID, name="Import profile", regions=["us-east-1"])

    account = fresh_account()
    started = time.perf_counter()
    import_file(account=account, kind="credential-report", data=report, filename="p.csv")
    print(f"import_file, {args.users:,} users: {time.perf_counter() - started:.2f} s (unprofiled)")

    account = fresh_account()
    profiler = cProfile.Profile()
    with CaptureQueriesContext(connection) as queries:
        profiler.enable()
        import_file(account=account, kind="credential-report", data=report, filename="p.csv")
        profiler.disable()
    total = sum(float(query["time"]) for query in queries.captured_queries)
    print(f"{len(queries)} statements, {total:.2f} s in the database (as Django timed them)")
    slowest = sorted(queries.captured_queries, key=lambda query: -float(query["time"]))
    for query in slowest[: args.statements]:
        print(f"  {query['time']}s  {query['sql'][:160]}")
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
    AwsAccount.objects.filter(account_id=ACCOUNT_ID).delete()


if __name__ == "__main__":
    main()
