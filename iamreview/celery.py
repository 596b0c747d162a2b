import os

from celery import Celery, shared_task

from iamreview.sessions import SessionStore

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


@shared_task(name="iamreview.clear_expired_sessions")
def clear_expired_sessions() -> int:
    """Daily: the browser sessions past their expiry are deleted (Django's `clearsessions`);
    without it every sign-in's row stays for ever."""
    return SessionStore.clear_expired()
