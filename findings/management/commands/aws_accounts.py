import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from findings.aws.errors import AwsError
from findings.collection.registry import add_account, discover_organization_accounts, parse_regions
from findings.models import AwsAccount


def account_json(account: AwsAccount) -> dict:
    return {
        "account_id": account.account_id,
        "name": account.name,
        "role_arn": account.role_arn,
        "external_id_set": bool(account.external_id),
        "regions": account.regions,
        "enabled": account.enabled,
        "origin": account.origin,
        "org_state": account.org_state or None,
    }


class Command(BaseCommand):
    help = "Manage connected AWS accounts: add, discover (AWS Organizations), list."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Register one account")
        add.add_argument("account_id")
        add.add_argument("--name", required=True)
        add.add_argument("--role-arn", default="", help="Role to assume (empty: own credentials)")
        add.add_argument("--external-id", default="")
        add.add_argument("--regions", default="", help="Comma-separated Access Analyzer regions")

        discover = sub.add_parser("discover", help="Register every account of an Organization")
        discover.add_argument("--role-arn", required=True, help="Role in the management account")
        discover.add_argument("--member-role-name", default="IAMReviewReadOnly")
        discover.add_argument("--external-id", default="")
        discover.add_argument("--regions", default="us-east-1")

        listing = sub.add_parser("list", help="List accounts")
        listing.add_argument("--json", action="store_true")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"handle_{action}")(**options)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except (AwsError, ValueError) as exc:
            raise CommandError(str(exc)) from exc

    def handle_add(self, *, account_id, name, role_arn, external_id, regions, **_):
        if AwsAccount.objects.filter(account_id=account_id.strip()).exists():
            raise CommandError(f"Account {account_id} is already registered")
        account = add_account(
            account_id=account_id,
            name=name,
            role_arn=role_arn,
            external_id=external_id,
            regions=parse_regions(value=regions),
        )
        self.stdout.write(f"Added {account}")

    def handle_discover(self, *, role_arn, member_role_name, external_id, regions, **_):
        result = discover_organization_accounts(
            role_arn=role_arn,
            member_role_name=member_role_name,
            external_id=external_id,
            regions=parse_regions(value=regions),
        )
        self.stdout.write(f"{result.seen} accounts in the organization")
        for account in result.added:
            self.stdout.write(f"  added       {account.account_id}  {account.name}")
        for account in result.updated:
            self.stdout.write(f"  updated     {account.account_id}  {account.org_state}")
        for account in result.deactivated:
            self.stdout.write(
                f"  disabled    {account.account_id}  {account.org_state} (not collected)"
            )
        for account in result.scp_changed:
            self.stdout.write(f"  SCPs        {account.account_id}  changed: detection runs again")
        if result.scp_error:
            self.stderr.write(result.scp_error)

    def handle_list(self, *, json: bool, **_):  # noqa: A002 - the flag's name
        accounts = list(AwsAccount.objects.order_by("account_id"))
        if json:
            self.stdout.write(_dumps([account_json(a) for a in accounts]))
            return
        if not accounts:
            self.stdout.write("No AWS accounts yet. Add one with: manage.py aws_accounts add ...")
        for a in accounts:
            state = "enabled" if a.enabled else "disabled"
            self.stdout.write(f"{a.account_id}  {a.name:<30} {state:<9} {a.role_arn or '-'}")


def _dumps(value) -> str:
    return json.dumps(value, indent=2)
