import json

from django.core.management.base import BaseCommand, CommandError

from findings.rightsizing.selectors import suggestion_for


class Command(BaseCommand):
    help = "Print the suggested least-privilege policies of one user or role."

    def add_arguments(self, parser):
        parser.add_argument("--arn", required=True)
        parser.add_argument("--unused-days", type=int, default=None)
        parser.add_argument("--format", default="json", choices=["json", "text"])

    def handle(self, *args, arn: str, unused_days: int | None, format: str, **options):  # noqa: A002
        if unused_days is not None and not 1 <= unused_days <= 400:
            raise CommandError("--unused-days must be between 1 and 400 (AWS tracks ~400 days)")
        try:
            suggestion = suggestion_for(arn=arn.strip(), unused_days=unused_days)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        if format == "json":
            self.stdout.write(json.dumps(suggestion, indent=2))
            return
        self.stdout.write(f"{suggestion['arn']}: unused for {suggestion['unused_days']} days")
        for service in suggestion["services"]:
            self.stdout.write(
                f"  {service['service']:<24} {service['verdict']:<12} {service['reason']}"
            )
        for change in suggestion["changes"]:
            self.stdout.write(f"  {change['action']:<8} {change['policy']}")
        for note in suggestion["notes"]:
            self.stdout.write(f"  note: {note}")
