from django.core.management.base import BaseCommand

from findings.models import AwsAccount, ReviewCycle
from findings.reviews.freshness import refresh_freshness


class Command(BaseCommand):
    help = (
        'Bring the "Fresh data changed" marks of the cycles in review up to date from the '
        "stored evidence, without rerunning detection (each detection does it for its "
        "account; run this after an upgrade that changes what the marks compare)."
    )

    def handle(self, *args, **options):
        accounts = AwsAccount.objects.filter(
            pk__in=ReviewCycle.objects.filter(state=ReviewCycle.State.OPEN).values("items__account")
        ).order_by("account_id")
        for account in accounts:
            written = refresh_freshness(account=account)
            self.stdout.write(f"{account.account_id}: {written} item(s) re-marked")
