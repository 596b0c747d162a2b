"""GET /metrics in Prometheus' text format, for a scraper holding the token or at an allowed
address (METRICS_TOKEN, METRICS_ALLOWED_IPS). Nobody gets it when neither is set. Behind a proxy
(BEHIND_PROXY) the address is the client's as the proxy forwards it, as for the login lockout."""

import hmac
import ipaddress

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from accounts.lockout import client_address
from findings.monitoring.selectors import Snapshot, metrics_snapshot


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    # Not REMOTE_ADDR: behind the proxy that is the proxy's address for every request, and an
    # allowed 127.0.0.1 let the whole Internet in.
    try:
        address = ipaddress.ip_address(client_address(request) or "")
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def _queue_depth() -> int | None:
    """Messages waiting in Celery's default queue (CELERY_TASK_DEFAULT_QUEUE) on the Redis
    broker (None: no Redis broker)."""
    url = settings.CELERY_BROKER_URL
    if not url or not url.startswith(("redis://", "rediss://")):
        return None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        return int(client.llen(settings.CELERY_TASK_DEFAULT_QUEUE))
    except redis.RedisError:
        return None


class _SnapshotCollector:
    def __init__(self, snapshot: Snapshot, queue_depth: int | None):
        self.snapshot = snapshot
        self.queue_depth = queue_depth

    def collect(self):
        s = self.snapshot
        last = GaugeMetricFamily(
            "iamreview_collection_last_success_timestamp_seconds",
            "When each (account, source) last collected successfully (Unix time).",
            labels=["account", "source"],
        )
        for (account, source), at in sorted(s.last_success.items()):
            if at is not None:
                last.add_metric([account, source], at.timestamp())
        yield last
        runs = GaugeMetricFamily(
            "iamreview_collection_runs_last_day",
            "Collection runs of the last 24 hours, and every one still queued or running, by "
            "status.",
            labels=["status"],
        )
        for status, count in sorted(s.runs_by_status.items()):
            runs.add_metric([status], count)
        yield runs
        findings = GaugeMetricFamily(
            "iamreview_open_findings", "Open findings by severity.", labels=["severity"]
        )
        for severity in ("critical", "high", "medium", "low"):
            findings.add_metric([severity], s.open_findings.get(severity, 0))
        yield findings
        yield GaugeMetricFamily(
            "iamreview_review_cycles_open", "Review cycles in review.", value=s.open_cycles
        )
        yield GaugeMetricFamily(
            "iamreview_review_cycles_overdue",
            "Open cycles past their due date.",
            value=s.overdue_cycles,
        )
        yield GaugeMetricFamily(
            "iamreview_digests_last_day",
            "People whose digest period was handled (sent, or nothing to say) in 24 hours.",
            value=s.digests_last_day,
        )
        yield CounterMetricFamily(
            "iamreview_digests_sent",
            "Digest emails sent since the start (periods with nothing to say send none).",
            value=s.digests_sent,
        )
        if s.last_digest_at is not None:
            yield GaugeMetricFamily(
                "iamreview_digest_last_sent_timestamp_seconds",
                "When the latest digest went (Unix time).",
                value=s.last_digest_at.timestamp(),
            )
        if self.queue_depth is not None:
            yield GaugeMetricFamily(
                "iamreview_queue_depth",
                "Tasks waiting in the Celery queue.",
                value=self.queue_depth,
            )


@login_not_required
@require_GET
def metrics(request):
    if not _allowed(request):
        return HttpResponseForbidden(
            "Metrics need the METRICS_TOKEN bearer token or an address in METRICS_ALLOWED_IPS.",
            content_type="text/plain; charset=utf-8",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(metrics_snapshot(), _queue_depth()))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
