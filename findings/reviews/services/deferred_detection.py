"""Detection after decisions that excluded or restored findings: once they are committed, by a
worker, once per account for the decisions of a few seconds (or of a whole bulk decision)."""

import logging
from contextvars import ContextVar

import celery
from django.core.cache import cache
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from findings.models import AwsAccount
from findings.reviews.freshness import detect_and_refresh

logger = logging.getLogger(__name__)
DETECT_AFTER_DECISION = "findings.detect_after_decision"  # findings.reviews.tasks
# Decisions on one account within this many seconds share one detection: the task is sent this
# long after the first of them, and those committed before it starts need no task of their own.
DETECT_AFTER_DECISION_DELAY_SECONDS = 5
# The key that says "a detection of this account is queued and has not started yet" lives
# shorter than the delay, so that a decision committed while it lives is always committed
# before that detection starts (2 s of margin for the worker's clock against this one).
_DETECT_QUEUED_SECONDS = DETECT_AFTER_DECISION_DELAY_SECONDS - 2


# Set while bulk_decide runs: the accounts whose detection waits for the end of the bulk, so
# that a thousand excluding decisions run detection once per account, not once per item.
_detection_after_bulk: ContextVar[dict | None] = ContextVar("detection_after_bulk", default=None)


def detect_after_commit(*, account: AwsAccount) -> None:
    """Detection (and the freshness of open cycles) once what excluded or restored findings
    is committed, by a worker; at the end of a bulk decision when one runs."""
    waiting = _detection_after_bulk.get()
    if waiting is not None:
        waiting[account.pk] = account
        return
    transaction.on_commit(lambda: _detect_in_background(account))


def _detect_in_background(account: AwsAccount) -> None:
    """A whole account's detection took a second or more of the reviewer's request: a worker
    runs it (without a broker, Celery runs it here), a few seconds later, once for the
    decisions on the account meanwhile. A broker that cannot take the message is no reason to
    lose it: it then runs here too.

    The cache is per process unless one shared cache is configured: each web process then
    queues its own detection, which is correct, only less shared."""
    app = celery.current_app
    if app.conf.task_always_eager:  # no broker (`make run` on its defaults, tests)
        detect_and_refresh(account=account)
        return
    queued_key = f"detect-after-decision:{account.pk}"
    if not cache.add(queued_key, True, timeout=_DETECT_QUEUED_SECONDS):
        return  # a detection queued moments ago starts after this decision's commit
    try:
        # By name: the task (findings.reviews.tasks) is a layer above this module.
        # Nobody waits for its result: sent expecting one, a Redis result backend subscribes
        # first and, with Redis down, raises a RuntimeError after ~20 s, not the broker's error.
        app.send_task(
            DETECT_AFTER_DECISION,
            args=[account.pk],
            countdown=DETECT_AFTER_DECISION_DELAY_SECONDS,
            ignore_result=True,
        )
    except KombuOperationalError:
        # Only the broker's own failure (without a broker the task runs right here, and its
        # errors are its own): the decision is committed; its detection is not lost.
        cache.delete(queued_key)  # the next decision tries the broker again
        logger.warning("Broker unavailable: detection of %s runs in the request", account)
        detect_and_refresh(account=account)
    except BaseException:
        cache.delete(queued_key)  # nothing was queued: the next decision must not count on it
        raise
