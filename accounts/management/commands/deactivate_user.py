from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.people import deactivate_person


class Command(BaseCommand):
    help = (
        "Deactivate a user: they can no longer log in; their API tokens are revoked, their "
        "browser sessions ended and their undecided review items unassigned (all audited)."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        user = User.objects.with_email(email).first()
        if user is None:
            raise CommandError(f"No user with the email {email}")
        if deactivate_person(user=user):
            self.stdout.write(f"Deactivated {user.email}")
        else:
            self.stdout.write(f"{user.email} is already inactive")
