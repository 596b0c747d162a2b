from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from findings.reviews.pack_verify import verify_pack


class Command(BaseCommand):
    help = (
        "Check a downloaded evidence pack: every file against its manifest, the manifest "
        "against the export recorded in the audit trail, every item's evidence hash and the "
        "population hash recomputed from the frozen evidence, and the sign-off summary's "
        "digest against the signed hash. Exit status 1 when anything differs."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The pack's .zip file")

    def handle(self, *args, path: str, **options):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
        check = verify_pack(data=data)
        if not check.intact:
            raise CommandError("not intact:\n" + "\n".join(f"- {p}" for p in check.problems))
        self.stdout.write(
            f"intact: cycle {check.cycle_id}, manifest {check.manifest_sha256}, exported "
            f"{check.exported_at:%Y-%m-%d %H:%M:%S %Z} by {check.exported_by}"
        )
        for note in check.notes:
            self.stdout.write(f"note: {note}")
