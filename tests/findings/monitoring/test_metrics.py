"""/metrics: Prometheus text for a scraper with the token or at an allowed address, nobody else."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from findings.models import CollectionRun
from findings.monitoring.selectors import metrics_snapshot
from tests.findings.history import assert_bounded, rows_read_at_two_sizes
from tests.findings.notifications.test_digests import make_cycle
from tests.findings.reviews.test_evidence import make_account, make_finding

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture
def metrics_settings(settings):
    import ipaddress

    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    return settings


def samples(response) -> dict:
    families = text_string_to_metric_families(response.content.decode())
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def run(account, source, status, finished_at):
    return CollectionRun(
        account=account,
        source=source,
        trigger=CollectionRun.Trigger.SCHEDULE,
        status=status,
        finished_at=finished_at,
    )


def test_a_scraper_with_the_token_reads_freshness_runs_findings_and_cycles(
    client, metrics_settings, django_assert_max_num_queries
):
    production = make_account()
    finished = timezone.now() - timedelta(hours=2)
    CollectionRun.objects.bulk_create(
        [
            run(production, "credential-report", "succeeded", finished - timedelta(hours=6)),
            run(production, "credential-report", "succeeded", finished),
            run(production, "access-analyzer", "failed", finished),
        ]
    )
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    make_finding(production, "password-unused", "arn:aws:iam::111122223333:user/bo")
    make_cycle(production, "Q3 credentials", due_in=-2)
    make_cycle(production, "Q4 credentials", due_in=10)

    with django_assert_max_num_queries(5):
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    values = samples(response)
    fresh = (
        "iamreview_collection_last_success_timestamp_seconds",
        (("account", production.account_id), ("source", "credential-report")),
    )
    assert values[fresh] == pytest.approx(finished.timestamp())
    assert values[("iamreview_collection_runs_last_day", (("status", "failed"),))] == 1
    assert values[("iamreview_collection_runs_last_day", (("status", "succeeded"),))] == 2
    assert values[("iamreview_open_findings", (("severity", "critical"),))] == 1
    assert values[("iamreview_open_findings", (("severity", "high"),))] == 1
    assert values[("iamreview_open_findings", (("severity", "low"),))] == 0
    assert values[("iamreview_review_cycles_overdue", ())] == 1
    assert values[("iamreview_review_cycles_open", ())] == 2


def test_an_allowed_address_needs_no_token(client, metrics_settings):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_anyone_else_is_refused_even_when_logged_in(client, metrics_settings, administrator):
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    client.force_login(administrator)
    response = client.get("/metrics")
    assert response.status_code == 403
    assert b"METRICS_TOKEN" in response.content


def test_with_nothing_configured_metrics_are_off(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403


def test_the_queue_depth_is_read_from_the_redis_broker(client, metrics_settings, redis_url):
    import redis

    metrics_settings.CELERY_BROKER_URL = redis_url
    connection = redis.Redis.from_url(redis_url)
    connection.delete("celery")
    connection.rpush("celery", "a", "b", "c")
    try:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        connection.delete("celery")
    assert samples(response)[("iamreview_queue_depth", ())] == 3


def test_digests_sent_counts_emails_that_went_out_not_empty_periods(
    client, metrics_settings, mailoutbox
):
    from accounts.permissions import Role
    from findings.notifications.digests import send_due_digests
    from tests.conftest import make_person

    production = make_account()
    make_finding(production, "root-mfa", "arn:aws:iam::111122223333:root", severity="critical")
    make_person("quiet@example.com")  # no role: no digest, nothing to count
    make_person("aud@example.com", Role.AUDITOR)
    make_person("adm@example.com", Role.ADMINISTRATOR)

    sent = send_due_digests(now=timezone.now(), force=True)

    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert sent == len(mailoutbox) == 2
    assert samples(response)[("iamreview_digests_sent_total", ())] == 2


# --- Behind the proxy, and the queue it reads ----------------------------------------------------


def test_behind_the_proxy_the_allowed_address_is_the_clients_not_the_proxys(
    client, metrics_settings
):
    """Every request through the documented proxy comes from its address (127.0.0.1), which
    .env.example suggested allowing: anyone on the Internet read /metrics without the token.
    The address is now the one client_address() (the login lockout's) believes."""
    import ipaddress

    metrics_settings.BEHIND_PROXY = True
    metrics_settings.TRUSTED_PROXY_HOPS = 1
    metrics_settings.METRICS_ALLOWED_NETWORKS += [ipaddress.ip_network("127.0.0.1/32")]

    stranger = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    forged = client.get(
        "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.0.0.5, 203.0.113.9"
    )
    scraper = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3")

    assert (stranger.status_code, forged.status_code, scraper.status_code) == (403, 403, 200)
    metrics_settings.BEHIND_PROXY = False  # Then the connection's, whatever is forwarded.
    direct = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert direct.status_code == 403


def test_queue_depth_is_read_from_the_configured_default_queue(client, metrics_settings, redis_url):
    """LLEN "celery" was read whatever CELERY_TASK_DEFAULT_QUEUE said: 0 however long the
    queue."""
    import redis

    queue = "iamreview-metrics-test"
    metrics_settings.CELERY_BROKER_URL = redis_url
    metrics_settings.CELERY_TASK_DEFAULT_QUEUE = queue
    connection = redis.Redis.from_url(redis_url)
    connection.delete(queue)
    connection.rpush(queue, "a", "b", "c")
    try:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        connection.delete(queue)

    assert samples(response)[("iamreview_queue_depth", ())] == 3


def test_the_runs_gauge_counts_the_last_day_and_every_run_still_waiting(client, metrics_settings):
    production = make_account()
    long_ago = timezone.now() - timedelta(days=3)
    CollectionRun.objects.bulk_create(
        [
            run(production, "credential-report", "succeeded", long_ago),
            run(production, "credential-report", "failed", timezone.now()),
            run(production, "access-analyzer", "queued", None),
        ]
    )
    CollectionRun.objects.exclude(status="failed").update(created_at=long_ago)

    values = samples(client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}))

    assert values[("iamreview_collection_runs_last_day", (("status", "failed"),))] == 1
    assert values[("iamreview_collection_runs_last_day", (("status", "queued"),))] == 1
    assert ("iamreview_collection_runs_last_day", (("status", "succeeded"),)) not in values


def test_the_metrics_scrape_does_not_read_every_run_ever_made():
    """/metrics is scraped every 15-60 s: the last success per (account, source) is one
    index probe each, and the runs by status are the last day's."""
    short, long = rows_read_at_two_sizes(lambda accounts: metrics_snapshot())
    assert_bounded(short, long)
