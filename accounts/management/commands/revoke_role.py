from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.people import revoke_role
from accounts.permissions import Role


class Command(BaseCommand):
    help = "Take a role (administrator, reviewer, approver, auditor) away from a user (audited)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("role")

    def handle(self, *args, email, role, **options):
        try:
            parsed = Role.parse(role)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with the email {email}")
        if revoke_role(user=user, role=parsed):
            self.stdout.write(f"Revoked {parsed.value} from {user.email}")
        else:
            self.stdout.write(f"{user.email} does not hold {parsed.value}")
