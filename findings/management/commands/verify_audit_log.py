from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from findings.audit.checkpoints import checkpoint_store, write_checkpoint
from findings.audit.verify import verify_chain


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chain against AUDIT_LOG_KEY and every checkpoint; report "
        "the first entry that fails, or 'intact'."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--write-checkpoint",
            action="store_true",
            help="After an intact result, write a checkpoint of the head now",
        )

    def handle(self, *args, **options):
        result = verify_chain()
        if not result.intact:
            where = f"entry {result.broken_entry_id}" if result.broken_entry_id else "the start"
            raise CommandError(
                f"broken at {where}: {result.problem} "
                f"({result.checked} entries before it are intact)"
            )
        self.stdout.write(
            f"intact ({result.checked} entries, {result.checkpoints} checkpoints "
            f"in {checkpoint_store()})"
        )
        if result.unkeyed:
            self.stdout.write(
                f"note: the first {result.unkeyed} entries are not keyed "
                "(written without AUDIT_LOG_KEY)"
            )
        if options["write_checkpoint"]:
            checkpoint = write_checkpoint(now=timezone.now())
            self.stdout.write(
                f"checkpoint written: {checkpoint.location}" if checkpoint else "head unchanged"
            )
