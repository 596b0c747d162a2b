import json
import sys

from django.core.management.base import BaseCommand, CommandError

from findings.collection.collectors import run_collection
from findings.collection.runs import AlreadyRunning, claim_run
from findings.models import AwsAccount, CollectionRun, Source


class Command(BaseCommand):
    help = "Collect now, in this process, with the same code as the scheduled tasks."

    def add_arguments(self, parser):
        parser.add_argument("--account", action="append", default=[], help="Account id (repeat)")
        parser.add_argument(
            "--source", action="append", default=[], choices=Source.values, help="Source (repeat)"
        )
        parser.add_argument("--json", action="store_true", help="JSON array of runs on stdout")

    def handle(self, *args, account, source, json: bool, **options):  # noqa: A002
        accounts = AwsAccount.objects.filter(enabled=True)
        if account:
            accounts = AwsAccount.objects.filter(account_id__in=account)
            missing = set(account) - set(accounts.values_list("account_id", flat=True))
            if missing:
                raise CommandError(f"Unknown account(s): {', '.join(sorted(missing))}")
        # Users, roles and policies first: service last accessed reads the principals they store.
        order = [s for s in Source.values if not source or s in source]
        progress_out = sys.stderr if json else self.stdout
        results = []
        for aws_account in accounts:
            for name in order:
                results.append(self.collect_one(aws_account, name, progress_out))
        if json:
            self.stdout.write(_dumps(results))
        failed = [r for r in results if r["status"] != "succeeded"]
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} runs failed")

    def collect_one(self, account, source, out) -> dict:
        label = f"{account.account_id} {source}"
        try:
            run = claim_run(account=account, source=source, trigger=CollectionRun.Trigger.MANUAL)
        except AlreadyRunning:
            out.write(f"{label}: already running elsewhere, skipped\n")
            return _result(account, source, "failed", {}, "already running")

        def show(done: int, total: int, message: str) -> None:
            bar = f"[{done}/{total}]" if total else ""
            out.write(f"{label}: {bar} {message}\n")
            out.flush()

        run = run_collection(run=run, on_progress=show)
        out.write(f"{label}: {run.status}" + (f" - {run.error}" if run.error else "") + "\n")
        error = run.error if run.status == CollectionRun.Status.FAILED else None
        return _result(account, source, run.status, run.counts, error)


def _result(account, source, status, counts, error) -> dict:
    return {
        "account": account.account_id,
        "source": source,
        "status": status,
        "counts": counts,
        "error": error,
    }


def _dumps(value) -> str:
    return json.dumps(value, indent=2, default=str)
