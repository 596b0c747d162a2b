"""Each IAM user's last activity, kept on the user row for the inventory's "stalest first".

The latest use of the user's password or access keys lives in the credential report, one row
per user; sorting users by it at request time meant a correlated lookup and a sort of every
user on each page. Collection keeps it on the user instead (an indexed column), after the
credential report or the users are stored: one statement per account, which writes only the
users whose value moved (an unchanged re-collection writes nothing).
"""

from django.db.models import DateTimeField, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest

from findings.models import AwsAccount, CredentialReportEntry, IamUser
from findings.models.evidence import NEVER


def _latest_use():
    """The present credential report row's latest use of a password or key (NEVER: none)."""
    entry = CredentialReportEntry.objects.filter(
        account_id=OuterRef("account_id"), arn=OuterRef("arn"), gone_at=None
    ).annotate(
        latest=Greatest(
            Coalesce("password_last_used", Value(NEVER)),
            Coalesce("access_key_1_last_used_date", Value(NEVER)),
            Coalesce("access_key_2_last_used_date", Value(NEVER)),
        )
    )
    return Coalesce(
        Subquery(entry.values("latest")[:1], output_field=DateTimeField()),
        Value(NEVER),
        output_field=DateTimeField(),
    )


def refresh_user_activity(*, account: AwsAccount) -> int:
    """Bring the account's present users' last_activity up to date. Returns the users written."""
    moved = (
        IamUser.objects.filter(account=account, gone_at=None)
        .annotate(latest=_latest_use())
        .exclude(last_activity=F("latest"))
        .values("pk")
    )
    return IamUser.objects.filter(pk__in=moved).update(last_activity=_latest_use())
