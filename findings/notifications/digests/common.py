"""What the digest modules share: the absolute links an email needs (SITE_URL and a path),
and a person's digest preference (the default when they never chose)."""

from django.conf import settings

from accounts.models import DigestPreference, User


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _preference_of(user: User) -> DigestPreference:
    """The person's preference, or the default (weekly, never sent) when they never chose."""
    try:
        return user.digest_preference
    except DigestPreference.DoesNotExist:
        return DigestPreference(user=user)
