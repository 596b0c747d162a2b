import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.people import create_person
from accounts.permissions import Role


class Command(BaseCommand):
    help = "Create a user with roles. Without a password, one is generated and printed."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument(
            "--role",
            action="append",
            default=[],
            help="administrator, reviewer, approver or auditor (repeatable)",
        )
        parser.add_argument("--name", default="", help="Full name")
        parser.add_argument(
            "--password-stdin", action="store_true", help="Read the password from standard input"
        )

    def handle(self, *args, email, role, name, password_stdin, **options):
        try:
            roles = [Role.parse(value) for value in role]
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        password = None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                raise CommandError("No password on standard input")
        try:
            user, generated = create_person(
                email=email, roles=roles, password=password, full_name=name
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        role_names = ", ".join(r.value for r in roles) or "no role"
        self.stdout.write(f"Created {user.email} ({role_names})")
        if generated:
            self.stdout.write(f"Password: {generated}")
