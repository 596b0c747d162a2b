from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from findings.collection.imports import KINDS, ImportRejected, check_size, import_file
from findings.collection.runs import AlreadyRunning
from findings.models import AwsAccount


class Command(BaseCommand):
    help = (
        "Import a file saved with the AWS CLI (credential report, authorization details, findings)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--account", required=True, help="12-digit account id")
        parser.add_argument("--kind", required=True, choices=list(KINDS))
        parser.add_argument(
            "--arn", default="", help="the user or role a service-last-accessed file describes"
        )
        parser.add_argument(
            "--complete",
            action="store_true",
            help="authorization details made without --filter: a type with no entries (no "
            "users, say) means the account has none left (without it, such a type is kept "
            "as stored)",
        )

    def handle(self, *args, path, account, kind, arn, complete, **options):
        aws_account = AwsAccount.objects.filter(account_id=account).first()
        if aws_account is None:
            raise CommandError(
                f"Unknown account {account}; add it first: manage.py aws_accounts add {account} ..."
            )
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            check_size(size=file.stat().st_size)
            run = import_file(
                account=aws_account,
                kind=kind,
                data=file.read_bytes(),
                filename=file.name,
                principal_arn=arn.strip(),
                complete=complete,
            )
        except (ImportRejected, AlreadyRunning) as exc:
            raise CommandError(str(exc)) from exc
        kept = run.counts.get("not_in_file") or []
        # Lists (kinds kept, principals read) are not counts.
        counts = ", ".join(f"{k}={v}" for k, v in run.counts.items() if not isinstance(v, list))
        self.stdout.write(f"Imported {file.name} into {aws_account}: {counts}")
        if kept:
            self.stdout.write(
                f"Kept as stored, none in the file: {', '.join(kept)} (--complete records "
                "that the account has none left)"
            )
        if unknown := run.counts.get("no_document"):
            total = run.counts.get("no_document_total", len(unknown))
            self.stderr.write(
                f"{total} attached managed policies have no document, so what they grant is "
                f"not judged: {', '.join(unknown)}{' ...' if total > len(unknown) else ''} "
                "(export without --filter, or add AWSManagedPolicy)"
            )
        if older := run.counts.get("aws_managed_older"):
            total = run.counts.get("aws_managed_older_total", len(older))
            self.stdout.write(
                "AWS-managed policies not stored, older in the file than the versions stored "
                f"for every account: {', '.join(older)}"
                + (f" and {total - len(older)} more" if total > len(older) else "")
            )
