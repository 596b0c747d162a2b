"""What grant_role and revoke_role share: finding the person and reading the role."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.permissions import Role


class RoleCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("role")

    def handle(self, *args, email, role, **options):
        try:
            parsed = Role.parse(role)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        user = User.objects.with_email(email).first()
        if user is None:
            raise CommandError(f"No user with the email {email}")
        self.stdout.write(self.change(user=user, role=parsed))

    def change(self, *, user: User, role: Role) -> str:
        raise NotImplementedError
