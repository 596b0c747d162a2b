"""Teams of IAM identities, from their `team` tag: what the sign-off summary's conflict-of-interest
check compares (a reviewer deciding about a member of their own team)."""

from collections.abc import Collection

from django.db.models import F

from findings.models import IamUser

TEAM_TAG = "team"


def team_of(*, tags: object) -> str:
    """The `team` tag's value ("" when none, or when the tags are not a mapping)."""
    return str((tags or {}).get(TEAM_TAG, "")) if isinstance(tags, dict) else ""


def teams_of_arns(*, arns: Collection[str]) -> dict[str, set[str]]:
    """{ARN: its teams} for the IAM users with these ARNs: the present user of an ARN first,
    else the last one gone. One query (none for no ARN)."""
    teams: dict[str, set[str]] = {}
    if not arns:
        return teams
    # Gone users first, so that the present user of an ARN has the last word.
    for arn, tags in (
        IamUser.objects.filter(arn__in=list(arns))
        .order_by(F("gone_at").asc(nulls_last=True))
        .values_list("arn", "tags")
    ):
        team = team_of(tags=tags)
        teams[arn] = {team} if team else set()
    return teams
