from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from findings.notifications.digests import (
    SharedDigest,
    digest_for,
    digest_subject,
    due_people,
    people_with_digests,
    send_due_digests,
)


class Command(BaseCommand):
    help = "Send the email digests that are due (the hourly task does this on its own)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Show who would get what; send nothing"
        )
        parser.add_argument("--email", help="Only this person")
        parser.add_argument(
            "--force", action="store_true", help="Ignore the schedule and each person's frequency"
        )

    def handle(self, *args, dry_run: bool, email: str | None, force: bool, **options):
        if email and not people_with_digests(email=email).exists():
            raise CommandError(f"No active person with a role has the email address {email}")
        now = timezone.now()
        if not dry_run:
            sent = send_due_digests(now=now, force=force, email=email)
            self.stdout.write(f"Sent {sent} digest{'s' if sent != 1 else ''}.")
            return
        would = 0
        shared = SharedDigest(now=now)
        for user in due_people(now=now, force=force, email=email, shared=shared):
            digest = digest_for(user=user, now=now, shared=shared)
            if digest is None:
                self.stdout.write(f"{user.email}: nothing to say, no email")
                continue
            would += 1
            counts = ", ".join(f"{name} {count}" for name, count in digest.counts().items())
            subject = digest_subject(digest=digest, shared=shared)
            self.stdout.write(f"{user.email}: {subject} [{counts}]")
        self.stdout.write(f"Dry run: {would} digest{'s' if would != 1 else ''} would be sent.")
