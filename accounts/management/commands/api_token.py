from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken, User
from accounts.tokens import DEFAULT_TOKEN_DAYS, TOKEN_DAYS, create_token, revoke_token


class Command(BaseCommand):
    help = "Create, list or revoke personal API tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser(
            "create", help="Create a token; it is printed once, on the last line"
        )
        create.add_argument("email")
        create.add_argument("--name", required=True)
        create.add_argument(
            "--days",
            type=int,
            choices=TOKEN_DAYS,
            default=DEFAULT_TOKEN_DAYS,
            help="How long it works (default %(default)s)",
        )
        create.add_argument(
            "--scope",
            choices=ApiToken.Scope.values,
            default=ApiToken.Scope.FULL.value,
            help="What it may do within its owner's roles (default %(default)s); "
            "release-pipeline: register releases and read, nothing else",
        )
        listing = sub.add_parser("list")
        listing.add_argument("email")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("email")
        revoke.add_argument("prefix", help="The token's first characters, as listed")

    def handle(self, *args, action, email, **options):
        user = User.objects.with_email(email).first()
        if user is None:
            raise CommandError(f"No user with the email {email}")
        if action == "create":
            try:
                token, raw = create_token(
                    user=user,
                    name=options["name"],
                    actor=None,
                    days=options["days"],
                    scope=options["scope"],
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(
                f"Created token {token.name!r} ({token.scope}) for {user.email}, working until "
                f"{token.expires_at:%Y-%m-%d %H:%M} UTC. Store it now:"
            )
            self.stdout.write(raw)
        elif action == "list":
            for token in user.api_tokens.all():
                state = (
                    "revoked"
                    if token.revoked_at
                    else "expired"
                    if token.is_expired
                    else f"active until {token.expires_at:%Y-%m-%d}"
                )
                self.stdout.write(f"{token.prefix}  {token.name:<30} {token.scope:<16} {state}")
        else:
            token = ApiToken.objects.filter(user=user, prefix=options["prefix"]).first()
            if token is None:
                raise CommandError("No such token")
            revoke_token(token=token, actor=None)  # recorded as the system, not the owner
            self.stdout.write(f"Revoked {token.name!r}")
