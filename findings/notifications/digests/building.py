"""``digest_for``: what one person should hear about now, section by section as their roles
decide, read through the run's ``SharedDigest``; None when there is nothing to say."""

from datetime import datetime, timedelta

from accounts.models import DigestPreference, User
from accounts.permissions import ROLE_CAPABILITIES, Capability, Role, roles_of
from findings.notifications.digests.common import _preference_of
from findings.notifications.digests.contents import Digest
from findings.notifications.digests.sections import _assigned_to
from findings.notifications.digests.shared import SharedDigest

FIRST_DIGEST_LOOKBACK = timedelta(days=7)


def digest_for(*, user: User, now: datetime, shared: SharedDigest | None = None) -> Digest | None:
    """What this person should hear about now, by their roles; None when there is nothing.

    With `shared` (one per run), what is the same for everyone is read once, and what is each
    person's own is read for all of the run's people together: no query per person.
    """
    shared = shared or SharedDigest(now=now)
    roles = set(roles_of(user))
    if not (user.is_active and roles):
        return None
    preference = _preference_of(user)
    digest = Digest(
        user=user,
        now=now,
        since=preference.last_sent_at or now - FIRST_DIGEST_LOOKBACK,
        frequency=preference.frequency,
    )
    if Role.REVIEWER in roles:
        digest.assigned = _assigned_to(shared.assigned_items(user=user), today=shared.today)
        digest.unassigned = shared.unassigned
    if Role.APPROVER in roles:
        digest.awaiting_sign_off = shared.may_sign(user=user)
    if roles & {Role.APPROVER, Role.ADMINISTRATOR, Role.AUDITOR}:
        # A cycle the approver can sign off is listed there, overdue or not.
        listed = {line.pk for line in digest.awaiting_sign_off}
        overdue = shared.overdue_cycles
        digest.overdue_cycles = (
            [line for line in overdue if line.pk not in listed] if listed else overdue
        )
    if roles & {Role.ADMINISTRATOR, Role.AUDITOR}:
        digest.failures = shared.failures
    if Role.AUDITOR in roles:
        digest.checkpoints = shared.checkpoints(since=digest.since)
    if user.is_superuser or any(Capability.VIEW in ROLE_CAPABILITIES[role] for role in roles):
        news = shared.news(since=digest.since, user=user)
        digest.new_findings, digest.more_findings, digest.told = news.lines, news.more, news.told
    if preference.frequency != DigestPreference.Frequency.OFF:
        digest.reminders = shared.reminders(user=user)
    return None if digest.is_empty else digest
