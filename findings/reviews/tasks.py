"""Review cycle tasks: thin, idempotent, each calling one domain function."""

from celery import shared_task

from findings.reviews import services


@shared_task(name="findings.open_scheduled_cycles")
def open_scheduled_cycles() -> int:
    """Hourly; opens the month's (and quarter's) cycle once. Idempotent by period."""
    return len(services.open_scheduled_cycles())


@shared_task(name="findings.expire_risk_acceptances")
def expire_risk_acceptances() -> int:
    return len(services.expire_risk_acceptances())


@shared_task(name="findings.mark_no_response")
def mark_no_response() -> int:
    """Hourly; marks undecided items of overdue cycles where the kind says so. Idempotent."""
    return services.mark_no_response()


@shared_task(
    name="findings.detect_after_decision",
    acks_late=True,
    autoretry_for=(Exception,),
    max_retries=5,
    retry_backoff=10,
)
def detect_after_decision(account_id: int) -> str:
    """Detection, and the freshness of the account's open cycles, after decisions excluded or
    restored findings: off the reviewer's request. Idempotent (detection is), so a failure
    (the database restarting) is tried again: one run stands for every decision on the
    account in the seconds before it, which would otherwise wait for the next collection."""
    from findings.models import AwsAccount
    from findings.reviews.freshness import detect_and_refresh

    account = AwsAccount.objects.filter(pk=account_id).first()
    if account is None:
        return "account gone"
    detect_and_refresh(account=account)
    return "detected"
