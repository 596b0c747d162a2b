from django.core.management.base import BaseCommand, CommandError

from findings.audit.services import verify_chain


class Command(BaseCommand):
    help = "Check the audit log's hash chain; report the first broken link or 'intact'."

    def handle(self, *args, **options):
        result = verify_chain()
        if result.intact:
            self.stdout.write(f"intact ({result.checked} entries)")
            return
        raise CommandError(
            f"broken at entry {result.broken_entry_id}: {result.problem} "
            f"({result.checked} entries before it are intact)"
        )
