from django.core.management.base import BaseCommand, CommandError

from iamreview.health import broker_status, database_status


class Command(BaseCommand):
    help = "Check the database and broker; exit non-zero when either is down (for healthchecks)."

    def handle(self, *args, **options):
        checks = {"database": database_status(), "broker": broker_status()}
        for name, status in checks.items():
            self.stdout.write(f"{name}: {status}")
        if any(not (s == "ok" or s.startswith("not configured")) for s in checks.values()):
            raise CommandError("unhealthy")
