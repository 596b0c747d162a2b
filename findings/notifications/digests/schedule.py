"""Who is due a digest now: each person's frequency (daily, weekly, off) against DIGEST_HOUR
and their last digest, and a reminder that makes one due whatever the schedule."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import DigestPreference, User
from accounts.permissions import Role
from findings.notifications.digests.common import _preference_of
from findings.notifications.digests.shared import SharedDigest

WEEKLY = timedelta(days=7)
# A weekly digest skips its Monday when one went out this close before it (a newcomer's first,
# a catch-up after a missed Monday, one a reminder brought): never two within a few days.
WEEKLY_MIN_GAP = timedelta(days=3)


def is_due(*, frequency: str, last_sent_at: datetime | None, now: datetime) -> bool:
    """Daily: once a day from DIGEST_HOUR. Weekly: on Mondays from DIGEST_HOUR, unless one went
    out in the few days before (WEEKLY_MIN_GAP); when a Monday was missed, any day from
    DIGEST_HOUR once 7 days have passed. A new person's first comes at once."""
    if frequency == DigestPreference.Frequency.OFF:
        return False
    local = timezone.localtime(now)
    if local.hour < settings.DIGEST_HOUR:
        return False
    if last_sent_at is None:
        return True
    if frequency == DigestPreference.Frequency.DAILY:
        return timezone.localdate(last_sent_at) < local.date()
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=settings.DIGEST_HOUR, minute=0, second=0, microsecond=0
    )
    if last_sent_at >= monday - WEEKLY_MIN_GAP:
        return False  # this week's went, or stands in for it
    return local.weekday() == 0 or now - last_sent_at >= WEEKLY


def people_with_digests(*, email: str | None = None) -> QuerySet[User]:
    """Active people with a role and an email address."""
    people = (
        User.objects.filter(is_active=True, groups__name__in=[role.value for role in Role])
        .exclude(email="")
        .select_related("digest_preference")
        .prefetch_related("groups")
        .distinct()
        .order_by("email")
    )
    if email:
        people = people.with_email(email)
    return people


def _has_reminders(user: User, *, shared: SharedDigest) -> bool:
    """A reminder makes the digest due, from DIGEST_HOUR, unless the person turned digests off."""
    if _preference_of(user).frequency == DigestPreference.Frequency.OFF:
        return False
    if timezone.localtime(shared.now).hour < settings.DIGEST_HOUR:
        return False
    return bool(shared.reminders(user=user))


def due_people(
    *,
    now: datetime,
    force: bool = False,
    email: str | None = None,
    shared: SharedDigest | None = None,
) -> list[User]:
    """The people whose digest is due now. With `shared`, the run's: it learns who they all are,
    so that their own parts (reminders here, the rest later) are read together."""
    people = list(people_with_digests(email=email))
    shared = shared or SharedDigest(now=now)
    shared.add_people(people=people)
    return [
        user
        for user in people
        if force
        or is_due(
            frequency=_preference_of(user).frequency,
            last_sent_at=_preference_of(user).last_sent_at,
            now=now,
        )
        or _has_reminders(user, shared=shared)
    ]
