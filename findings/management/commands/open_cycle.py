import json

from django.core.management.base import BaseCommand

from findings.reviews.services import open_period_cycle


class Command(BaseCommand):
    help = (
        "Open this period's monthly or quarterly review cycle, as the schedule does (idempotent: "
        "an existing cycle for the period is printed, not opened again)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=["monthly", "quarterly"])
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help='One object: {"id", "kind", "items"}',
        )

    def handle(self, *args, kind, as_json, **options):
        cycle, opened = open_period_cycle(kind=kind)
        items = cycle.items.count()
        if as_json:
            self.stdout.write(json.dumps({"id": cycle.pk, "kind": cycle.kind, "items": items}))
            return
        verb = "Opened" if opened else "Already open"
        self.stdout.write(f"{verb}: #{cycle.pk} {cycle.title} ({items} items, due {cycle.due_on})")
