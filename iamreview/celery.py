import os

from celery import Celery, shared_task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iamreview.settings")

app = Celery("iamreview")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each concern of the findings app keeps its tasks in its own package.
app.autodiscover_tasks(
    ["findings.audit", "findings.collection", "findings.reviews", "findings.notifications"]
)


@shared_task(name="iamreview.heartbeat")
def heartbeat() -> str:
    """Proves the worker and beat are alive; also what the integration test runs."""
    return "ok"
