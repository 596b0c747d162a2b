"""Sending the due digests: each person's period claimed before their email goes (and given
back if it fails), one connection for the run, and the findings told recorded together at
the end. Its log records keep the name findings.notifications.digests."""

import logging
from datetime import datetime, timedelta

from django.core.mail import get_connection
from django.db.models import F
from django.utils import timezone

from accounts.models import DigestPreference
from findings.notifications.digests.building import digest_for
from findings.notifications.digests.common import _preference_of
from findings.notifications.digests.emails import digest_email
from findings.notifications.digests.news import TOLD_PREFIX
from findings.notifications.digests.schedule import due_people
from findings.notifications.digests.shared import SharedDigest
from findings.notifications.reminders import forget_sent, mark_sent, mark_told

logger = logging.getLogger("findings.notifications.digests")

# How long the findings told to a person are remembered (longer than a weekly period).
TOLD_KEPT = timedelta(days=35)


def claim(*, preference: DigestPreference, now: datetime, counting: bool = False) -> bool:
    """Mark this period's digest as handled, unless another run already did (compare-and-set
    against `preference.last_sent_at`, the value the person was found due by: a run that
    claimed the period since has changed it). Never moves last_sent_at backwards.

    With `counting`, the email about to go is counted in the same write (give_back_claim
    undoes both if it fails)."""
    if preference.last_sent_at is not None and preference.last_sent_at >= now:
        return False
    changes = {"last_sent_at": now}
    if counting:
        changes["emails_sent"] = F("emails_sent") + 1
    return bool(
        DigestPreference.objects.filter(
            pk=preference.pk, last_sent_at=preference.last_sent_at
        ).update(**changes)
    )


def give_back_claim(*, preference: DigestPreference, now: datetime) -> None:
    """After a failed send: the period is not handled after all, and the email not sent."""
    DigestPreference.objects.filter(pk=preference.pk, last_sent_at=now).update(
        last_sent_at=preference.last_sent_at, emails_sent=F("emails_sent") - 1
    )


def send_due_digests(
    *, now: datetime | None = None, force: bool = False, email: str | None = None
) -> int:
    """Send each due person their digest over one connection; returns how many went.

    Idempotent: a person's period is claimed (last_sent_at) before sending, so a second run
    finds nobody due. Whatever goes wrong with one person (the mail server or SES refusing,
    a malformed address, their digest failing to build) is logged, their claim is given back
    so that the next run tries again, and the others still get theirs. A person with nothing
    to say gets no email, and their period counts as handled.

    Whatever the number of people, the reads are a fixed few for the whole run, and so is
    recording the findings told; each person costs their claim and, with reminders, marking
    them sent.
    """
    now = now or timezone.now()
    shared = SharedDigest(now=now)
    people = due_people(now=now, force=force, email=email, shared=shared)
    if not people:
        return 0
    # Each claim compares against the preference the person was found due by (read with
    # them), never a copy read again later: a run that finished in between (the hourly task
    # and the command, a retried task) has claimed the period, and this one stands down.
    missing = {user.pk: user for user in people if _preference_of(user).pk is None}
    if missing:
        DigestPreference.objects.bulk_create(
            [DigestPreference(user=user) for user in missing.values()], ignore_conflicts=True
        )
        for preference in DigestPreference.objects.filter(user__in=list(missing)):
            if preference.last_sent_at is None:  # else another run created it and claimed it
                missing[preference.user_id].digest_preference = preference
        people = [user for user in people if _preference_of(user).pk is not None]
    sent = 0
    told: list[tuple[int, str]] = []
    try:
        with get_connection() as connection:
            for user in people:
                preference = _preference_of(user)
                try:
                    digest = digest_for(user=user, now=now, shared=shared)
                    message = (
                        digest_email(digest=digest, connection=connection, shared=shared)
                        if digest
                        else None
                    )
                except Exception:
                    logger.exception("Digest for %s could not be made; will try again", user.email)
                    continue
                if not claim(preference=preference, now=now, counting=message is not None):
                    continue
                if message is None:
                    continue
                try:
                    message.send()
                except Exception:  # SMTP, SES (AnymailError), a malformed address (ValueError)
                    logger.exception("Digest to %s failed; it will be tried again", user.email)
                    give_back_claim(preference=preference, now=now)
                    _reconnect(connection)
                    continue
                mark_sent(user=user, reminders=digest.reminders, now=now)
                told += [(user.pk, key) for key in digest.told]
                sent += 1
    finally:
        # Together for the run: at worst (a crash before this) a few findings are told twice.
        mark_told(told=told, now=now)
        # Read back only while a window reaches them: a long-idle person's next digest at
        # worst repeats the few findings of their last one's overlap.
        forget_sent(prefix=TOLD_PREFIX, before=now - TOLD_KEPT)
    return sent


def _reconnect(connection) -> None:
    """After a failure the SMTP session may be unusable: start a fresh one for the others."""
    try:
        connection.close()
        connection.open()
    except Exception:
        logger.exception("Could not reconnect to the mail server")
