import argparse
import time

from django.core.management.base import BaseCommand

from accounts.people import reset_demo_person
from accounts.permissions import Role
from findings.demo.load import load_demo

DEMO_PEOPLE = [
    ("admin@demo.iamreview.local", "Ada Admin", [Role.ADMINISTRATOR, Role.REVIEWER, Role.AUDITOR]),
    ("reviewer@demo.iamreview.local", "Rita Reviewer", [Role.REVIEWER]),
    ("approver@demo.iamreview.local", "Paula Approver", [Role.APPROVER]),
]


class Command(BaseCommand):
    help = "Load a simulated AWS Organization as demo data, and print demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--scale", type=float, default=1.0, help="Shrink the organization")
        parser.add_argument("--no-data", action="store_true", help="Only (re)create the logins")
        parser.add_argument(
            "--in-process",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="Simulate AWS only while this command runs (default); --no-in-process expects "
            "AWS_ENDPOINT_URL to point at a running moto server",
        )

    def handle(self, *args, seed, scale, no_data, in_process, **options):
        if not no_data:
            started = time.monotonic()
            load_demo(seed=seed, scale=scale, say=self.stdout.write, in_process=in_process)
            self.stdout.write(f"Demo data ready in {time.monotonic() - started:.0f} s")
        lines = []
        for email, name, roles in DEMO_PEOPLE:
            user, password = reset_demo_person(email=email, roles=roles, full_name=name)
            role_names = ", ".join(r.value for r in roles)
            lines.append(f"  {user.email:<32} {password}   ({role_names})")
        self.stdout.write("")
        self.stdout.write("Demo logins (passwords are new on every run):")
        for line in lines:
            self.stdout.write(line)
        self.stdout.write("")
