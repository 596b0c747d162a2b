from django.core.management.base import BaseCommand

from accounts.people import reset_demo_person
from accounts.permissions import Role

DEMO_PEOPLE = [
    ("admin@demo.iamreview.local", "Ada Admin", [Role.ADMINISTRATOR, Role.REVIEWER, Role.AUDITOR]),
    ("approver@demo.iamreview.local", "Paula Approver", [Role.APPROVER]),
]


class Command(BaseCommand):
    help = "Create demo logins (new passwords each run) and demo data for a first look."

    def handle(self, *args, **options):
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
