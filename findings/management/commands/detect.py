from django.core.management.base import BaseCommand, CommandError

from findings.models import AwsAccount
from findings.reviews.freshness import detect_and_refresh


class Command(BaseCommand):
    help = "Rerun detection on stored evidence (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--account", action="append", default=[], help="Account id (repeat)")

    def handle(self, *args, account, **options):
        if account:
            known = set(
                AwsAccount.objects.filter(account_id__in=account).values_list(
                    "account_id", flat=True
                )
            )
            missing = sorted(set(account) - known)
            if missing:
                raise CommandError(f"Unknown account(s): {', '.join(missing)}")
        try:
            accounts = AwsAccount.objects.order_by("account_id")
            if account:
                accounts = accounts.filter(account_id__in=account)
            results = {a.account_id: detect_and_refresh(account=a) for a in accounts}
        except Exception as exc:
            raise CommandError(f"Detection failed: {exc}") from exc
        for account_id, counts in results.items():
            summary = ", ".join(f"{k} {v}" for k, v in counts.as_dict().items())
            self.stdout.write(f"{account_id}: {summary}")
