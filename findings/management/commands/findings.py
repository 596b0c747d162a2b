from django.core.management.base import BaseCommand

from findings.detection.selectors import (
    FindingFilters,
    filtered_findings,
    finding_records,
)
from findings.export.tables import json_text, write_csv


class Command(BaseCommand):
    help = "Print findings as JSON (an array) or CSV."

    def add_arguments(self, parser):
        parser.add_argument("--account", default="")
        parser.add_argument("--check", default="", help="Check id or access-analyzer:<type>")
        parser.add_argument(
            "--status", default="open", choices=["open", "resolved", "excluded", "all"]
        )
        parser.add_argument("--format", default="json", choices=["json", "csv"])

    def handle(self, *args, account, check, status, format: str, **options):  # noqa: A002
        filters = FindingFilters(account=account, check=check, status=status)
        rows = list(finding_records(findings=filtered_findings(filters=filters)))
        if format == "json":
            self.stdout.write(json_text(rows))
        else:
            write_csv(rows, self.stdout)
