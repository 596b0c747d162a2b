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

    def handle(self, *args, path, account, kind, arn, **options):
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
            )
        except (ImportRejected, AlreadyRunning) as exc:
            raise CommandError(str(exc)) from exc
        counts = ", ".join(f"{k}={v}" for k, v in run.counts.items())
        self.stdout.write(f"Imported {file.name} into {aws_account}: {counts}")
