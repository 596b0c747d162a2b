"""The webhook transport's edges: IPv6 addresses carrying a private IPv4 one, proxy credentials
that cannot be sent, what urllib3 would log, port 0, and the deadline over TLS. Every server is
on 127.0.0.1; names are answered by a patched getaddrinfo; nothing is sent to an outside host
(tests that would reach a non-local address record the transport's post() instead)."""

import logging

import pytest

from findings.notifications import webhooks
from findings.notifications.webhooks import deliver, url_problem
from tests.findings.notifications import test_webhook_hardening as hardening
from tests.findings.notifications.test_webhook_hardening import (
    PUBLIC,
    fake_dns,
    one_critical_delivery,
    webhook_to,
)

pytestmark = pytest.mark.django_db

production = hardening.production
private_refused = hardening.private_refused
private_allowed = hardening.private_allowed
tls = hardening.tls


@pytest.fixture
def sent(monkeypatch):
    """Stands in for the transport: records what would have been sent, sends nothing."""
    calls = []

    def post(**kwargs):
        calls.append(kwargs["addresses"])
        raise webhooks.DeliveryFailed("ConnectionError: (not sent by this test)")

    monkeypatch.setattr(webhooks, "post", post)
    return calls


# --- 1. IPv6 addresses that carry a private IPv4 address pass the check ------------------------


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a9fe:a9fe",  # NAT64 well-known prefix (RFC 6052) -> 169.254.169.254
        "64:ff9b::a00:7",  # NAT64 -> 10.0.0.7
        "64:ff9b:1::a00:7",  # NAT64 local-use prefix (RFC 8215) -> 10.0.0.7
        "2002:a9fe:a9fe::1",  # 6to4 (RFC 3056) -> 169.254.169.254
        "::a9fe:a9fe",  # IPv4-compatible (deprecated, ::/96) -> 169.254.169.254
        "::ffff:0:a00:7",  # IPv4-translated (SIIT, RFC 2765) -> 10.0.0.7
    ],
)
@pytest.mark.parametrize("how", ["literal", "AAAA record"])
def test_an_ipv6_address_embedding_a_private_ipv4_address_is_refused(
    private_refused, production, monkeypatch, sent, address, how
):
    """On an IPv6-only (DNS64/NAT64) network, e.g. an AWS NAT gateway, 64:ff9b::a00:7 *is*
    10.0.0.7; ipaddress calls these addresses global, so they are sent to."""
    if how == "literal":
        webhook_to(f"http://[{address}]/in")
    else:
        fake_dns(monkeypatch, {"hooks.example.test": [address]})
        webhook_to("http://hooks.example.test/in")

    delivery = deliver(delivery_id=one_critical_delivery(production))

    assert sent == [], f"sent to {address}, which embeds a non-public IPv4 address"
    assert delivery.status == "failed" and delivery.last_error.startswith("Refused:")


# --- 2. Proxy credentials that are not latin-1 crash the attempt --------------------------------


def test_proxy_credentials_that_cannot_be_encoded_fail_the_attempt_not_the_task(
    private_refused, production, monkeypatch
):
    """make_headers() encodes Basic credentials as latin-1: a UnicodeEncodeError escapes
    proxy_for()/post()/deliver(), the Celery task dies with a traceback, nothing is recorded,
    and after the last attempt the delivery says 'its worker stopped'."""
    fake_dns(monkeypatch, {"hooks.example.test": [PUBLIC]})
    monkeypatch.setenv("HTTPS_PROXY", "http://egress:pa%E2%82%ACss@127.0.0.1:9")
    webhook_to("https://hooks.example.test/in")

    delivery = deliver(delivery_id=one_critical_delivery(production))  # raises today

    assert delivery.status == "pending"
    assert delivery.last_error.startswith("ProxyError:")
    assert "pa" + "\u20ac" + "ss" not in delivery.last_error


# --- 3. What urllib3 itself logs -----------------------------------------------------------------


def test_the_urls_path_and_query_are_not_logged(private_allowed, production, caplog):
    """README: the URL's path and query may be the credential (Slack's incoming-webhook URL is);
    the audit keeps only origin + fingerprint. With LOG_LEVEL=DEBUG (root level, urllib3
    propagates) urllib3 logs '<scheme>://<host>:<port> "POST <path?query> HTTP/1.1" 200'."""
    from tests.findings.notifications.test_webhooks import Receiver

    receiver = Receiver()
    try:
        webhook_to(f"http://127.0.0.1:{receiver.server.server_port}/services/T0/B0/s3cr3tToken")
        caplog.set_level(logging.DEBUG)
        delivery = deliver(delivery_id=one_critical_delivery(production))
    finally:
        receiver.close()

    assert delivery.status == "delivered"
    assert "s3cr3tToken" not in caplog.text


def test_a_certificate_for_another_name_is_not_logged_with_what_the_receiver_put_in_it(
    private_allowed, production, monkeypatch, tls, caplog
):
    """_reason() replaces urllib3's CertificateError text because it quotes names the receiver
    chose; urllib3 logs the whole peer certificate at WARNING anyway (every failed attempt)."""
    _, server_context = tls
    context, _ = server_context("chosen-by-the-receiver.example.test")
    server, _ = hardening.tls_receiver(context)
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    try:
        webhook_to(f"https://hooks.example.test:{server.port}/in")
        delivery = deliver(delivery_id=one_critical_delivery(production))
    finally:
        server.close()

    assert delivery.last_error.startswith("SSLError: Hostname mismatch")
    assert "chosen-by-the-receiver" not in caplog.text


# --- 4. Port 0 ----------------------------------------------------------------------------------


def test_port_zero_is_refused_not_sent_to_the_default_port():
    """`parts.port or 80` turns :0 into 80, so the '0 < port' check never sees 0: the request
    goes to port 80 with 'Host: hooks.example.test:0'."""
    assert url_problem(url="http://hooks.example.test:0/in") != ""


# --- 5. The deadline on HTTPS (guard: passes today) ---------------------------------------------


@pytest.mark.parametrize("through_proxy", [False, True])
def test_a_tls_receiver_trickling_its_answer_holds_no_worker_past_the_timeout(
    private_allowed, production, monkeypatch, tls, through_proxy
):
    """The deadline holds over TLS too, direct and through the proxy: with the watchdog's hook
    on urllib3's HTTPS connections disabled (as a urllib3 change could), the other trickle
    tests (http) still passed, and this one took 19.5 s, not under 5."""
    from tests.findings.notifications.test_webhook_proxy import Proxy

    private_allowed.WEBHOOK_TIMEOUT_SECONDS = 1
    _, server_context = tls
    context, _ = server_context("hooks.example.test")
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Slow: " + b"." * 30 + b"\r\n\r\n"
    handler = hardening.trickling(at_once=b"", then=answer, pause=0.25)
    server = hardening.Server(handler, tls=context)
    proxy = Proxy(routes={"hooks.example.test": "127.0.0.1"})
    fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1"]})
    if through_proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    try:
        delivery, took = hardening.timed_delivery(
            production, f"https://hooks.example.test:{server.port}/slow"
        )
    finally:
        server.close()
        proxy.close()

    assert took < 5, f"one attempt took {took:.1f}s with WEBHOOK_TIMEOUT_SECONDS=1"
    assert delivery.status == "pending" and delivery.last_error.startswith("Timeout:")
    assert len(proxy.asked) == (1 if through_proxy else 0)
