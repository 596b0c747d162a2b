import json

from django.core.management.base import BaseCommand

from findings.export.tables import write_csv
from findings.inventory.selectors import role_rows, user_rows


class Command(BaseCommand):
    help = "Export stored users or roles as JSON (an array) or CSV."

    def add_arguments(self, parser):
        parser.add_argument("--account", default=None)
        parser.add_argument("--kind", required=True, choices=["users", "roles"])
        parser.add_argument("--format", default="json", choices=["json", "csv"])

    def handle(self, *args, account, kind, format: str, **options):  # noqa: A002
        rows = user_rows(account_id=account) if kind == "users" else role_rows(account_id=account)
        if format == "json":
            self.stdout.write(json.dumps(rows, indent=2))
            return
        write_csv(rows, self.stdout)
