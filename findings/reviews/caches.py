"""What the review pages keep between requests, and when it is forgotten.

Per process (Django's cache): the list of reviewers (findings.reviews.services
.reviewer_choices) and each cycle's accounts and scope names (findings.reviews.queue). A change
made in this process forgets them at once (the signals below); other processes read them again
within their time to live.
"""

from django.core.cache import cache
from django.db import transaction

REVIEWERS_KEY = "reviewer-choices"
ACCOUNTS_VERSION_KEY = "accounts-version"


def accounts_version() -> int:
    """Bumped when an account is saved or deleted in this process (forget_account_names):
    the cycles' cached account lists and scope names are read again at once here, within
    findings.reviews.queue.ACCOUNTS_CACHE_SECONDS in other workers."""
    return cache.get(ACCOUNTS_VERSION_KEY, 0)


def forget_account_names(**_signal) -> None:
    try:
        cache.incr(ACCOUNTS_VERSION_KEY)
    except ValueError:  # no version yet
        cache.set(ACCOUNTS_VERSION_KEY, 1, None)


def forget_reviewers(**signal) -> None:
    """A person or a role changed: the list of reviewers is read again, now and once the
    change is committed (a list another thread read before the commit is not kept). A login
    (which saves only `last_login`) changes nothing the list shows."""
    if signal.get("update_fields") == frozenset({"last_login"}):
        return
    cache.delete(REVIEWERS_KEY)
    transaction.on_commit(lambda: cache.delete(REVIEWERS_KEY))


def connect_cache_signals() -> None:
    """Forget the cached reviewer lists on a change of people or roles, and the cycles'
    cached account names on a change of accounts."""
    from django.contrib.auth.models import Group
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from accounts.models import User
    from findings.models import AwsAccount

    post_save.connect(forget_account_names, sender=AwsAccount, dispatch_uid="cycle-accounts")
    post_delete.connect(forget_account_names, sender=AwsAccount, dispatch_uid="cycle-accounts-d")

    for sender in (User, Group):
        post_save.connect(forget_reviewers, sender=sender, dispatch_uid=f"reviewers-{sender}")
        post_delete.connect(forget_reviewers, sender=sender, dispatch_uid=f"reviewers-d-{sender}")
    m2m_changed.connect(
        forget_reviewers, sender=User.groups.through, dispatch_uid="reviewers-membership"
    )
