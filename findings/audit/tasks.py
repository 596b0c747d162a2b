"""Audit tasks: thin, each calling one domain function."""

from celery import shared_task
from django.utils import timezone

from findings.audit.checkpoints import write_checkpoint


@shared_task(name="findings.write_audit_checkpoint")
def write_audit_checkpoint() -> str:
    """Write the chain's head out (nothing when unchanged since the last checkpoint)."""
    checkpoint = write_checkpoint(now=timezone.now())
    return checkpoint.location if checkpoint else "unchanged"
